package sip_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/siptest"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

func agentURI(agent *siptest.UAS) string { return "sip:agent1@" + agent.Addr }

func startGateway(t *testing.T, trunk string, mod func(*sip.Config)) *sip.Gateway {
	g, _ := startGatewayStoppable(t, trunk, mod)
	return g
}

// startGatewayStoppable runs a gateway on a free loopback port: see
// startGatewayOn.
func startGatewayStoppable(t *testing.T, trunk string, mod func(*sip.Config)) (*sip.Gateway, func()) {
	t.Helper()
	return startGatewayOn(t, "127.0.0.1:0", trunk, mod)
}

func startGatewayListening(t *testing.T, listen string) *sip.Gateway {
	g, _ := startGatewayOn(t, listen, "127.0.0.1:9", nil)
	return g
}

// startGatewayOn runs a gateway until the test ends or stop is called; stop
// returns once Run has returned, and fails the test when Run returned an
// error. Ring timeouts are long unless mod shortens them.
func startGatewayOn(t *testing.T, listen, trunk string, mod func(*sip.Config)) (*sip.Gateway, func()) {
	t.Helper()
	cfg := sip.Config{
		Listen:             listen,
		Trunk:              trunk,
		CallerID:           "ringback",
		AgentRingTimeout:   waitLong,
		ContactRingTimeout: waitLong,
	}
	if mod != nil {
		mod(&cfg)
	}
	g, stop, logs := runGateway(t, cfg, slog.LevelDebug)
	t.Cleanup(func() {
		stop()
		if strings.Contains(logs.String(), "41555501") {
			t.Error("gateway logged an unmasked phone number")
		}
		if t.Failed() || os.Getenv("GW_LOG") != "" {
			t.Logf("gateway log:\n%s", logs.String())
		}
	})
	return g, stop
}

// runGateway runs a gateway logging at level into a buffer. stop returns
// once Run has returned (failing tb if Run failed or hung); the caller's
// Cleanup must call it.
func runGateway(tb testing.TB, cfg sip.Config, level slog.Level) (*sip.Gateway, func(), *lockedBuffer) {
	tb.Helper()
	logs := &lockedBuffer{}
	g, err := sip.New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level})))
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					tb.Errorf("Run: %v", err)
				}
			case <-time.After(2 * waitLong):
				tb.Error("Run did not return after its context was cancelled")
			}
		})
	}
	return g, stop, logs
}

// lockedBuffer collects the gateway's log; goroutines of the SIP stack may
// still write after the test, where t.Log would panic.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// recorder collects reports and checks they never overlap.
type recorder struct {
	mu       sync.Mutex
	busy     bool
	got      []sip.Progress
	overlap  bool
	onReport func(sip.Progress)
}

func (r *recorder) report(p sip.Progress) {
	r.mu.Lock()
	if r.busy {
		r.overlap = true
	}
	r.busy = true
	r.got = append(r.got, p)
	r.mu.Unlock()
	if r.onReport != nil {
		r.onReport(p)
	}
	r.mu.Lock()
	r.busy = false
	r.mu.Unlock()
}

func (r *recorder) last() sip.Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		return sip.Progress{}
	}
	return r.got[len(r.got)-1]
}

func (r *recorder) has(kind sip.ProgressKind) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.got, func(p sip.Progress) bool { return p.Kind == kind })
}

// wantKinds checks the reports, where the Ringing kinds in want are optional:
// a phone may answer without ringing, and sipgo hands each incoming message
// to its own goroutine, so a 180 sent just before the 200 can reach the
// transaction after it and go unreported. When present they must be where
// want has them.
func (r *recorder) wantKinds(t *testing.T, want ...sip.ProgressKind) {
	t.Helper()
	got := r.kinds(t)
	ringing := func(k sip.ProgressKind) bool {
		return k == sip.AgentRinging || k == sip.ContactRinging || k == sip.PartyAlerting
	}
	if !slices.Equal(slices.DeleteFunc(slices.Clone(got), ringing), slices.DeleteFunc(slices.Clone(want), ringing)) || !isSubsequence(got, want) {
		t.Errorf("reports %v, want %v (Ringing optional)", got, want)
	}
}

// wantExactKinds checks the reports, Ringing kinds included.
func (r *recorder) wantExactKinds(t *testing.T, want ...sip.ProgressKind) {
	t.Helper()
	if got := r.kinds(t); !slices.Equal(got, want) {
		t.Errorf("reports %v, want %v", got, want)
	}
}

func (r *recorder) kinds(t *testing.T) []sip.ProgressKind {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.overlap {
		t.Error("report called concurrently")
	}
	var got []sip.ProgressKind
	for _, p := range r.got {
		got = append(got, p.Kind)
	}
	return got
}

func isSubsequence(sub, of []sip.ProgressKind) bool {
	i := 0
	for _, k := range of {
		if i < len(sub) && sub[i] == k {
			i++
		}
	}
	return i == len(sub)
}

func wantOutcome(t *testing.T, call *sip.Call, err error, outcome sip.Outcome, code int) *sip.OutcomeError {
	t.Helper()
	if call != nil {
		t.Errorf("Dial returned a call")
	}
	var oe *sip.OutcomeError
	if !errors.As(err, &oe) {
		t.Fatalf("Dial error %v, want an *OutcomeError", err)
	}
	if oe.Outcome != outcome || oe.SIPCode != code {
		t.Errorf("outcome %v code %d (%v), want %v code %d", oe.Outcome, oe.SIPCode, err, outcome, code)
	}
	return oe
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitLong):
		t.Fatalf("%s: not within %s", what, waitLong)
	}
}
