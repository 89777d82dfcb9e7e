package intake

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/streams"
	"github.com/ringback/ringback/proto/catalog"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/intake/callback"
)

// ClaimerCheckpoint is where the claimer stands; never renamed. The
// version before claim streams per number stood at "intake-claimer": a new
// name, so that the first replica of this version starts at the store's
// beginning and claims, on their numbers' streams, the callbacks that
// version left open.
const ClaimerCheckpoint = "intake-claimer-number"

// requestedType is the one event type the claimer decodes for a callback
// it does not follow yet.
var requestedType = catalog.TypeName(&callbackv1.CallbackRequested{})

func tracked(unclaimed map[string]callback.State, id string) bool {
	_, ok := unclaimed[id]
	return ok
}

// claimerState: caughtUp once every callback written without a claim up
// to the store's head at start holds its number, if still open (Ready
// waits for it).
type claimerState struct{ caughtUp atomic.Bool }

// claimer claims the numbers of open callbacks written without a claim on
// the number's stream: by a version before claims (it refused duplicates
// from a read model), by the version with a claim stream per number and
// service, or by either still running beside this one in a rolling
// upgrade (until it is gone, each version enforces its own rules only). Without
// their claims, a new request for such a number would be admitted beside
// them. It tails the store from a checkpoint the replicas share. Catching
// up, it folds in memory only the unclaimed callbacks still open (as that
// read model did at every start, but only once per store) and claims them
// at the head; from then on it claims one as soon as it meets it. Every
// callback this version writes says it is claimed (CallbackRequested
// .claimed), so following the store costs a decode per event and no I/O.
func (s *Service) claimer(ctx context.Context) error {
	cps, ok1 := s.deps.Store.(eventstore.Checkpoints)
	hr, ok2 := s.deps.Store.(eventstore.HeadReader)
	if !s.cfg.claiming() || !ok1 || !ok2 {
		s.claims.caughtUp.Store(true)
		return nil
	}
	head, err := hr.Head(ctx)
	if err != nil {
		return fmt.Errorf("claimer: head: %w", err)
	}
	from, err := cps.LoadCheckpoint(ctx, ClaimerCheckpoint)
	if err != nil {
		return fmt.Errorf("claimer: checkpoint: %w", err)
	}
	caughtUp := !from.Less(head)
	s.claims.caughtUp.Store(caughtUp)
	var (
		unclaimed = map[string]callback.State{} // open, written without a claim
		saved     = from
		last      = time.Now()
	)
	follow := s.deps.Store.SubscribeAll
	if ss, ok := s.deps.Store.(eventstore.StreamSubscriber); ok {
		// Sealed, as stored: the claimer reads a flag and states, never
		// the personal fields, and opening every request of the store for
		// them was a tenth of intake's cost per callback (issue 12).
		// claimFor opens the one number it needs.
		follow = func(ctx context.Context, from eventstore.Position, fn func(context.Context, eventstore.RecordedEvent) error) error {
			return ss.SubscribeStreams(ctx, from, func(string) bool { return false }, fn)
		}
	}
	err = follow(ctx, from, func(ctx context.Context, r eventstore.RecordedEvent) error {
		// Decoded: a request, and the life of a callback followed because
		// its request was not claimed; a claimed callback's life is not.
		if id, ok := strings.CutPrefix(r.Stream, streams.IntakeCallback); ok && (r.Type == requestedType || tracked(unclaimed, id)) {
			if m, err := eventstore.Decode(r); err == nil {
				if req, ok := m.(*callbackv1.CallbackRequested); ok && !req.NumberClaimed {
					unclaimed[id] = callback.Evolve(callback.State{}, m)
				} else if st, ok := unclaimed[id]; ok {
					if st = callback.Evolve(st, m); st.Open() {
						unclaimed[id] = st
					} else {
						delete(unclaimed, id) // ended: its number is free
					}
				}
			}
		}
		justCaughtUp := false
		if !caughtUp && !r.Position.Less(head) {
			caughtUp, justCaughtUp = true, true
			s.deps.Log.Info("claiming the numbers of callbacks open before claims", "callbacks", len(unclaimed))
		}
		if !caughtUp {
			// Not saved while catching up: what is folded in memory would
			// be lost with a restart past it.
			return nil
		}
		for id := range unclaimed {
			if err := s.claimFor(ctx, id); err != nil {
				return err
			}
			delete(unclaimed, id)
		}
		s.claims.caughtUp.Store(true)
		if (justCaughtUp || time.Since(last) > time.Second) && saved.Less(r.Position) {
			if err := cps.SaveCheckpoint(ctx, ClaimerCheckpoint, r.Position); err != nil {
				return fmt.Errorf("save checkpoint: %w", err)
			}
			saved, last = r.Position, time.Now()
		}
		return nil
	})
	if err != nil && ctx.Err() == nil && !errors.Is(err, eventstore.ErrClosed) {
		return fmt.Errorf("claimer: %w", err)
	}
	return nil
}

// claimFor claims the number of an unclaimed open callback. It adopts:
// the callback is open whatever the rules say, so it is recorded even
// beside another of its service or past the cap (an older version let it
// in), and the number takes no new one until enough have ended.
func (s *Service) claimFor(ctx context.Context, id string) error {
	// The state was folded from sealed events: the number is read opened.
	l, err := eventstore.Load(ctx, s.deps.Store, callback.Stream(id), aggregate)
	if err != nil {
		return fmt.Errorf("claim for callback %s: %w", id, err)
	}
	if !l.State.Open() {
		return nil // ended since: its number is free
	}
	number, service := l.State.Request.GetPhoneNumber(), l.State.Request.GetService()
	stream, err := s.contactStream(ctx, number)
	if err != nil {
		return err
	}
	if err = s.claim(ctx, stream, id, service, number, true); err != nil {
		return fmt.Errorf("claim for callback %s: %w", id, err)
	}
	return nil
}
