package clock

import (
	"testing"
	"time"
)

func TestFakeFiresTimersInOrderOnAdvance(t *testing.T) {
	start := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	f := NewFake(start)
	soon, later := f.After(time.Minute), f.After(time.Hour)
	f.Advance(30 * time.Second)
	select {
	case <-soon:
		t.Fatal("fired early")
	default:
	}
	f.Advance(time.Minute)
	if got := <-soon; !got.Equal(start.Add(90 * time.Second)) {
		t.Fatalf("fired at %v", got)
	}
	if f.Waiters() != 1 {
		t.Fatalf("waiters = %d, want 1", f.Waiters())
	}
	f.Advance(24 * time.Hour)
	<-later
	if now := f.Now(); !now.Equal(start.Add(24*time.Hour + 90*time.Second)) {
		t.Fatalf("now = %v", now)
	}
}
