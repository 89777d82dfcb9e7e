// Package lifecycle runs the loops a service is made of (its projection,
// its inbox, its timers) as one: they start together, the first failure
// stops the others, and Run returns once every loop has returned.
package lifecycle

import (
	"context"
	"errors"

	"golang.org/x/sync/errgroup"
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
