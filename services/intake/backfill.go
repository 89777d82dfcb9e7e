package intake

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/services/intake/callback"
	"github.com/ringback/ringback/services/intake/contact"
)

// BackfillCheckpoint marks the store's claims as backfilled; never renamed.
const BackfillCheckpoint = "intake-claims-backfill"

// backfilled: every callback left open by a version before claims holds
// its number (Ready waits for it).
type backfillState struct{ done atomic.Bool }

// backfill claims the numbers of the callbacks an older version left open
// (it refused duplicates from a read model, not from claims): without
// their claims, a new request for such a number would be admitted beside
// them. It folds intake's streams once, as that read model did at every
// start, holding only the open callbacks, then claims each one's number,
// and records in a checkpoint that the store is done, so later starts skip
// it. Callbacks written since are claimed before they are written.
func (s *Service) backfill(ctx context.Context) error {
	cps, ok1 := s.deps.Store.(eventstore.Checkpoints)
	hr, ok2 := s.deps.Store.(eventstore.HeadReader)
	if !s.cfg.RefuseDuplicates || !ok1 || !ok2 {
		s.backfilled.done.Store(true)
		return nil
	}
	if cp, err := cps.LoadCheckpoint(ctx, BackfillCheckpoint); err != nil {
		return fmt.Errorf("claims backfill: checkpoint: %w", err)
	} else if cp != (eventstore.Position{}) {
		s.backfilled.done.Store(true)
		return nil
	}
	head, err := hr.Head(ctx)
	if err != nil {
		return fmt.Errorf("claims backfill: head: %w", err)
	}
	if head == (eventstore.Position{}) {
		s.backfilled.done.Store(true) // an empty store; the next start checks again
		return nil
	}
	open := map[string]callback.State{}
	errDone := errors.New("done")
	err = s.deps.Store.SubscribeAll(ctx, eventstore.Position{}, func(_ context.Context, r eventstore.RecordedEvent) error {
		if id, ok := strings.CutPrefix(r.Stream, "intake-callback-"); ok {
			if m, err := eventstore.Decode(r); err == nil {
				if st := callback.Evolve(open[id], m); st.Open() {
					open[id] = st
				} else {
					delete(open, id) // ended: it never changes again
				}
			}
		}
		if !r.Position.Less(head) {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("claims backfill: %w", err)
	}
	for id, st := range open {
		number, service := st.Request.GetPhoneNumber(), st.Request.GetService()
		stream, err := s.contactStream(ctx, service, number)
		if err != nil {
			return err
		}
		if err := s.claim(ctx, stream, id, service, number); errors.Is(err, contact.ErrHeld) {
			// Two open callbacks for one number already (duplicates were
			// allowed, or a request came in during the backfill): the first
			// claim stands, and the number is free again once both ended.
			s.deps.Log.Warn("open callback whose number another open callback holds", "callback", id)
		} else if err != nil {
			return fmt.Errorf("claims backfill: %w", err)
		}
	}
	if err := cps.SaveCheckpoint(ctx, BackfillCheckpoint, head); err != nil {
		return fmt.Errorf("claims backfill: save checkpoint: %w", err)
	}
	s.deps.Log.Info("claimed the numbers of callbacks open before claims", "callbacks", len(open))
	s.backfilled.done.Store(true)
	return nil
}
