package esdb

import (
	"context"
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/ringback/ringback/libs/eventstore"
)

// SubscribeAll implements eventstore.Store with a catch-up subscription to
// $all. System events (types starting with "$", checkpoints among them) are
// left out, by the server filter and again here (delivered), so handlers
// see only what was appended through the port.
func (s *Store) SubscribeAll(ctx context.Context, from eventstore.Position, fn func(context.Context, eventstore.RecordedEvent) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Err() != nil {
		return fmt.Errorf("subscribe all: %w", eventstore.ErrClosed)
	}
	// The subscription's own context also ends with Close, so a subscriber
	// blocked in Recv learns the store is gone.
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.closed, cancel)
	defer stop()

	opts := esdb.SubscribeToAllOptions{From: esdb.Start{}, Filter: esdb.ExcludeSystemEventsFilter()}
	if from != (eventstore.Position{}) {
		opts.From = esdb.Position{Commit: from.Commit, Prepare: from.Prepare}
	}
	// The subscription lives in subCtx, not in the call's context, which
	// ends when the call returns.
	sub, err := do(subCtx, s, func(_ context.Context, c *esdb.Client) (*esdb.Subscription, error) {
		sub, err := c.SubscribeToAll(subCtx, opts)
		if err == nil && subCtx.Err() != nil {
			sub.Close() // nobody waits for it any more
		}
		return sub, err
	})
	if err != nil {
		return s.subscriptionEnded(ctx, err)
	}
	defer sub.Close()
	for {
		msg := sub.Recv()
		switch {
		case msg.SubscriptionDropped != nil:
			return s.subscriptionEnded(ctx, msg.SubscriptionDropped.Error)
		case msg.EventAppeared == nil:
			continue // checkpoints, caught-up and fell-behind notices
		}
		e := msg.EventAppeared.OriginalEvent()
		if e == nil || !delivered(e) {
			continue
		}
		ev, err := recorded(e)
		if err != nil {
			return fmt.Errorf("subscribe all: %w", err)
		}
		// The server starts after from already; this guards the port's
		// "exclusive" against a server that does not.
		if from != (eventstore.Position{}) && !from.Less(ev.Position) {
			continue
		}
		if err := fn(subCtx, ev); err != nil {
			if subCtx.Err() != nil {
				return s.subscriptionEnded(ctx, err) // most likely the same ending
			}
			return fmt.Errorf("subscribe all: handle %s@%d: %w", ev.Stream, ev.Revision, err)
		}
	}
}

// subscriptionEnded explains why a subscription stopped, in the port's terms.
func (s *Store) subscriptionEnded(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if s.closed.Err() != nil {
		return fmt.Errorf("subscribe all: %w", eventstore.ErrClosed)
	}
	return fmt.Errorf("subscribe all: %w", s.translate(ctx, err))
}
