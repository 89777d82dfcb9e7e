package sip

import (
	"fmt"
	"log/slog"
	"testing"
	"time"
)

// TestLockoutWindows: five failures of a pair within the window block it
// for blockFor, not the pair's neighbours; failures spread over windows do
// not add up; thirty from one source block the source.
func TestLockoutWindows(t *testing.T) {
	l := newLockout(slog.New(slog.DiscardHandler))
	t0 := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	const src, other = "192.0.2.1", "192.0.2.2"

	// Four failures a minute and a half apart: never five in one window.
	for i := range 4 {
		l.fail("a1", src, t0.Add(time.Duration(i)*90*time.Second))
	}
	if l.blocked("a1", src, t0.Add(5*time.Minute)) {
		t.Fatal("failures in different windows blocked the pair")
	}

	t1 := t0.Add(10 * time.Minute)
	for i := range pairFailLimit {
		if l.blocked("a1", src, t1) {
			t.Fatalf("blocked after %d failures, want %d", i, pairFailLimit)
		}
		l.fail("a1", src, t1.Add(time.Duration(i)*time.Second))
	}
	at := t1.Add(pairFailLimit * time.Second)
	switch {
	case !l.blocked("a1", src, at):
		t.Fatal("five failures within the window did not block the pair")
	case l.blocked("a2", src, at):
		t.Error("another account from the same source is blocked")
	case l.blocked("a1", other, at):
		t.Error("the same account from another source is blocked")
	case l.blocked("a1", src, at.Add(blockFor)):
		t.Error("the block outlived blockFor")
	}

	t2 := t0.Add(time.Hour)
	for i := range sourceFailLimit {
		l.fail(fmt.Sprintf("user%d", i), other, t2.Add(time.Duration(i)*time.Second))
	}
	if !l.blocked("a9", other, t2.Add(sourceFailLimit*time.Second)) {
		t.Error("thirty failures over many accounts did not block the source")
	}
}
