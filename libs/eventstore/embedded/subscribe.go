package embedded

import (
	"context"
	"errors"
	"fmt"

	"github.com/ringback/ringback/libs/eventstore"
)

// errStop ends a catch-up pass early without being an error of the caller's.
var errStop = errors.New("stop")

// SubscribeAll implements eventstore.Store. Positions are global sequence
// numbers (Commit == Prepare, 1-based). It reads the synced part of the log,
// then sleeps until the writer closes the wake channel after its next sync:
// live events arrive without polling, and only once they are durable, so a
// relay never publishes an event that a crash could still take back.
//
// fn gets a context that also ends when the store closes, so a handler
// blocked on it does not hold Close's promise to end subscriptions hostage.
// Subscriptions share what they read (recentRecords): fn must not modify an
// event's Data or Metadata in place.
func (s *Store) SubscribeAll(ctx context.Context, from eventstore.Position, fn func(context.Context, eventstore.RecordedEvent) error) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.closing, cancel)()

	next := from.Commit + 1 // the first sequence number still to deliver
	var scratch []byte      // read buffer, reused: one per wake-up was 4% of what the platform allocated
	for {
		if sctx.Err() != nil {
			return s.ended(ctx)
		}
		s.mu.RLock()
		locs := s.appends.view(s.durable)
		wake := s.wake
		s.mu.RUnlock()
		// Records are in sequence order: find the first one holding next.
		i := locs.search(func(l appendLoc) bool { return l.lastSeq() >= next })
		if i == locs.n {
			select {
			case <-wake:
				continue
			case <-sctx.Done():
				return s.ended(ctx)
			}
		}
		var handlerErr error
		deliver := func(r *record) error {
			for k := range r.events {
				seq := r.firstSeq + uint64(k)
				if seq < next {
					continue
				}
				if err := sctx.Err(); err != nil {
					return err
				}
				if err := fn(sctx, recorded(r, k)); err != nil {
					handlerErr = fmt.Errorf("subscribe all: handle %s@%d: %w", r.stream, r.firstRev+uint64(k), err)
					return errStop
				}
				next = seq + 1
			}
			return nil
		}
		err := locs.each(i, func(run []appendLoc) error {
			return s.readRecords(sctx, run, true, &scratch, deliver)
		})
		switch {
		case sctx.Err() != nil:
			return s.ended(ctx) // a handler error then is most likely the same ending
		case handlerErr != nil:
			return handlerErr
		case err == nil:
		default:
			return fmt.Errorf("subscribe all: %w", err)
		}
	}
}

// ended says why a subscription's context ended: the caller's, or Close.
func (s *Store) ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return fmt.Errorf("subscribe all: %w", eventstore.ErrClosed)
}
