// Package lifecycle runs the loops a service is made of (its projection,
// its inbox, its timers) as one: they start together, the first failure
// stops the others, and Run returns once every loop has returned.
package lifecycle

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ringback/ringback/libs/clock"
)

// Loop runs until its context is done.
type Loop func(ctx context.Context) error

// Run runs loops until ctx is done or one fails, and waits for all of them.
// Cancellation is how a service stops, so it is not an error.
func Run(ctx context.Context, loops ...Loop) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, l := range loops {
		g.Go(func() error { return l(ctx) })
	}
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Restart bounds: the pause after a loop failed doubles from restartMin up
// to restartMax while it keeps failing; a loop that ran restartMax before
// failing starts again at restartMin.
const (
	restartMin = 50 * time.Millisecond
	restartMax = 5 * time.Second
)

// Restarting returns a loop that runs l again, after a pause, each time it
// fails, until ctx ends. It is for loops that resume from what is stored
// (a checkpoint, the store's streams), so that a new run is what a new
// process would do: a store or bus that fails for a while then costs a
// logged error and a retry, not every replica of a service exiting at once
// to be restarted by its orchestrator (a store stalled for seconds did
// that, in CI). name says which loop failed, in the log.
func Restarting(log *slog.Logger, name string, l Loop) Loop {
	return func(ctx context.Context) error {
		wait := restartMin
		for {
			began := time.Now()
			err := l(ctx)
			if ctx.Err() != nil {
				return nil //nolint:nilerr // stopped: whatever it returned is the stop
			}
			if err == nil {
				return nil // done: nothing to restart
			}
			if time.Since(began) >= restartMax {
				wait = restartMin
			}
			log.ErrorContext(ctx, "loop failed: restarting it", "loop", name, "err", err, "in", wait)
			if !clock.Sleep(ctx, wait) {
				return nil
			}
			wait = min(wait*2, restartMax)
		}
	}
}
