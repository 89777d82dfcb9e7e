package lifecycle

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

func TestFirstFailureStopsTheOthers(t *testing.T) {
	boom := errors.New("boom")
	stopped := make(chan struct{})
	err := Run(context.Background(),
		func(ctx context.Context) error { <-ctx.Done(); close(stopped); return ctx.Err() },
		func(context.Context) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	<-stopped
}

func TestCancellationIsNotAnError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }); err != nil {
		t.Fatalf("err = %v", err)
	}
}

// TestRestartingOutlivesFailures: a loop that fails is run again, and the
// loops beside it are not stopped; cancellation still ends it.
func TestRestartingOutlivesFailures(t *testing.T) {
	var runs atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Restarting(slog.New(slog.DiscardHandler), "flaky", func(ctx context.Context) error {
			if runs.Add(1) <= 3 {
				return errors.New("store unavailable")
			}
			<-ctx.Done()
			return ctx.Err()
		}), func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	}()
	for deadline := time.Now().Add(10 * time.Second); runs.Load() < 4; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d runs in 10s", runs.Load())
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Run ended: %v", err)
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("err = %v", err)
	}
}
