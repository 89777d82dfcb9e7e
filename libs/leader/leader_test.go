package leader_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
	"github.com/ringback/ringback/libs/leader"
	"github.com/ringback/ringback/libs/lifecycle"
)

// TestOneLeaderAtATimeAndTakeover runs three replicas for one lease: one
// works at a time; when it stops (its lease released) another takes over;
// when one is deposed (its lease taken from under it), its work's context
// ends and a fenced write of it is refused.
func TestOneLeaderAtATimeAndTakeover(t *testing.T) {
	st, err := embedded.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var (
		working atomic.Int32
		most    atomic.Int32
		mu      sync.Mutex
		order   []string
	)
	run := func(ctx context.Context, holder string) <-chan error {
		done := make(chan error, 1)
		go func() {
			done <- leader.Run(ctx, leader.Config{Leases: st, Name: "work", Holder: holder, TTL: 300 * time.Millisecond},
				func(ctx context.Context) error {
					n := working.Add(1)
					defer working.Add(-1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					mu.Lock()
					order = append(order, holder)
					mu.Unlock()
					<-ctx.Done()
					return nil
				})
		}()
		return done
	}
	ctxs := map[string]context.CancelFunc{}
	dones := map[string]<-chan error{}
	for _, h := range []string{"a", "b", "c"} {
		ctx, cancel := context.WithCancel(t.Context())
		ctxs[h], dones[h] = cancel, run(ctx, h)
	}
	waitFor(t, func() bool { return working.Load() == 1 })
	for range 2 {
		mu.Lock()
		cur := order[len(order)-1]
		n := len(order)
		mu.Unlock()
		began := time.Now()
		ctxs[cur]()
		if err := <-dones[cur]; err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(order) > n })
		t.Logf("%s stopped; takeover in %v", cur, time.Since(began))
	}
	if most.Load() != 1 {
		t.Fatalf("%d replicas worked at once", most.Load())
	}
}

// TestDeposedWorkIsFenced: a holder whose lease passed on sees its work's
// context end and its writes refused.
func TestDeposedWorkIsFenced(t *testing.T) {
	st, err := embedded.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fenced := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		_ = leader.Run(t.Context(), leader.Config{Leases: st, Name: "work", Holder: "a", TTL: 300 * time.Millisecond},
			func(ctx context.Context) error {
				close(started)
				// A pause longer than the lease: the renewer cannot help.
				l, _, _, _ := st.ReadLease(context.Background(), "work")
				stolen := l
				stolen.Expires = time.Now()
				_ = st.ReleaseLease(context.Background(), stolen) // as if it expired
				if _, err := st.AcquireLease(context.Background(), "work", "b", time.Minute); err != nil {
					t.Error(err)
				}
				_, err := st.Append(ctx, "s", eventstore.NoStream, eventstore.EventData{ID: "7b0a9c1e-6f3e-4a57-9e55-0b1c2d3e4f50", Type: "t"})
				fenced <- err
				<-ctx.Done()
				return err
			})
	}()
	<-started
	if err := <-fenced; !errors.Is(err, eventstore.ErrFenced) {
		t.Fatalf("deposed holder's append: %v, want ErrFenced", err)
	}
}

// TestFailedWorkReleasesTheLease: work that fails (the store or the bus
// failing under it) ends Run with its error and the lease released, so a
// standby need not wait out the TTL; wrapped in lifecycle.Restarting, as
// the relay's is, this replica contends again and work runs anew.
func TestFailedWorkReleasesTheLease(t *testing.T) {
	st, err := embedded.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	failure := errors.New("save checkpoint: timeout: context deadline exceeded")
	cfg := leader.Config{Leases: st, Name: "work", Holder: "a", TTL: time.Minute}
	err = leader.Run(t.Context(), cfg, func(context.Context) error { return failure })
	if !errors.Is(err, failure) {
		t.Fatalf("Run = %v, want the work's error", err)
	}
	if l, _, _, _ := st.ReadLease(context.Background(), "work"); l.Expires.After(time.Now()) {
		t.Fatalf("lease still held after work failed: %+v", l)
	}

	var calls atomic.Int32
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- lifecycle.Restarting(slog.New(slog.DiscardHandler), "work", func(ctx context.Context) error {
			return leader.Run(ctx, cfg, func(ctx context.Context) error {
				if calls.Add(1) <= 2 {
					return failure
				}
				<-ctx.Done()
				return nil
			})
		})(ctx)
	}()
	waitFor(t, func() bool { return calls.Load() == 3 })
	select {
	case err := <-done:
		t.Fatalf("ended after work failed: %v", err)
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l, _, _, _ := st.ReadLease(context.Background(), "work"); l.Expires.After(time.Now()) {
		t.Fatalf("lease still held after Run ended: %+v", l)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 10s")
}
