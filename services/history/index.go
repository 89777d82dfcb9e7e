package history

// What history's bounded memory does not hold, it reads from the store:
// a callback's summary from its own trail (history-callback-<id>), and the
// two lookups through index streams (package index) written before the
// event they index is recorded, so the store's index covers every trail
// this version records (and the indexer below, those of older versions).
// The order makes a crash harmless: an index entry whose event was never
// recorded names a callback with no trail yet, which readers skip, and the
// bus redelivers the event, which is then recorded.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
	"github.com/ringback/ringback/services/history/index"
	"github.com/ringback/ringback/services/history/timeline"
)

var (
	linksAggregate = eventstore.Aggregate[index.Links]{Evolve: index.Evolve}
	keyAggregate   = eventstore.Aggregate[[]byte]{Evolve: index.KeyOf}
)

// IndexerCheckpoint is where the indexer stands; never renamed.
const IndexerCheckpoint = "history-indexer"

// indexes is the service's side of the index streams.
type indexes struct {
	key atomic.Pointer[[]byte]
	// linked remembers index entries known written, so recording the
	// events of a callback does not read its index streams each time.
	mu     sync.Mutex
	linked *lru[string, struct{}]
	// backfilled: the indexer has linked every event recorded without
	// its index entries up to the store's head when it started (Ready
	// waits for it).
	backfilled atomic.Bool
}

// contactKey is the key of the contact index streams' names: drawn by the
// first replica that needs one, written at "no stream", read by all. It
// lives in the store beside the trails that hold the numbers in clear
// anyway; what it keeps numbers out of is stream names, and so logs,
// traces and Kafka message keys.
func (s *Service) contactKey(ctx context.Context) ([]byte, error) {
	if k := s.idx.key.Load(); k != nil {
		return *k, nil
	}
	drawn := make([]byte, index.KeySize)
	if _, err := rand.Read(drawn); err != nil {
		return nil, fmt.Errorf("draw contact key: %w", err)
	}
	// A fresh cause: with a fixed one, a replica that lost the race would
	// take the winner's event for its own replay and keep its own key.
	out, err := eventstore.Execute(ctx, s.deps.Store, index.KeyStream, keyAggregate, eventstore.Cause{ID: uuid.NewString()},
		func(cur []byte) ([]proto.Message, error) { return index.DecideKey(cur, drawn) })
	if err != nil {
		return nil, fmt.Errorf("contact key: %w", err)
	}
	k := out.State
	s.idx.key.Store(&k)
	return k, nil
}

// link writes the index entries of an event about to be recorded.
func (s *Service) link(ctx context.Context, callbackID, interactionID, phone string) error {
	if interactionID != "" {
		if err := s.linkTo(ctx, index.InteractionStream(interactionID),
			index.Link{InteractionID: interactionID, CallbackID: callbackID}); err != nil {
			return err
		}
	}
	if phone != "" {
		key, err := s.contactKey(ctx)
		if err != nil {
			return err
		}
		return s.linkTo(ctx, index.ContactStream(key, phone), index.Link{CallbackID: callbackID})
	}
	return nil
}

func (s *Service) linkTo(ctx context.Context, stream string, l index.Link) error {
	k := stream + "\x00" + l.CallbackID
	s.idx.mu.Lock()
	_, done := s.idx.linked.get(k)
	s.idx.mu.Unlock()
	if done {
		return nil
	}
	_, err := eventstore.Execute(ctx, s.deps.Store, stream, linksAggregate, eventstore.Cause{ID: "link:" + l.CallbackID},
		func(cur index.Links) ([]proto.Message, error) { return index.Decide(cur, l) })
	if err != nil {
		return fmt.Errorf("index callback %s: %w", l.CallbackID, err)
	}
	s.idx.mu.Lock()
	s.idx.linked.put(k, struct{}{})
	s.idx.mu.Unlock()
	return nil
}

// lookupCallback is the callback of an interaction: held, else indexed.
func (s *Service) lookupCallback(ctx context.Context, interactionID string) (string, bool, error) {
	if cb, ok := s.view.callbackOf(interactionID); ok {
		return cb, true, nil
	}
	l, err := eventstore.Load(ctx, s.deps.Store, index.InteractionStream(interactionID), linksAggregate)
	if err != nil || len(l.State) == 0 {
		return "", false, err
	}
	return l.State[0], true, nil
}

// callbacksOf is every callback of a number: the index, and those the
// projection saw lately (recorded after their index entry, so already in
// it, unless the index of an older version is still being backfilled).
func (s *Service) callbacksOf(ctx context.Context, phone string) ([]string, error) {
	key, err := s.contactKey(ctx)
	if err != nil {
		return nil, err
	}
	l, err := eventstore.Load(ctx, s.deps.Store, index.ContactStream(key, phone), linksAggregate)
	if err != nil {
		return nil, err
	}
	ids := slices.Clone(l.State)
	for _, id := range s.view.contactOf(phone) {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// state is a callback's summary: held, else read from its trail and held
// from then on. ok is false for a callback with no trail.
func (s *Service) state(ctx context.Context, callbackID string) (timeline.State, bool, error) {
	if st, ok := s.view.get(callbackID); ok {
		return st, true, nil
	}
	stream := timeline.Stream(callbackID)
	l, err := eventstore.Load(ctx, s.deps.Store, stream, aggregate)
	if err != nil || l.Expected == eventstore.NoStream {
		return timeline.State{}, false, err
	}
	s.loaded.Inc()
	rev := eventstore.Revision(l.Expected)
	s.view.admit(callbackID, l.State, rev)
	recs, err := s.deps.Store.ReadStream(ctx, stream, rev+1)
	if err != nil {
		return timeline.State{}, false, fmt.Errorf("read %s: %w", stream, err)
	}
	s.view.catchUp(callbackID, recs)
	return l.State, l.State.Exists, nil
}

// contact is the summaries of a number's callbacks, newest request first.
// The slices the caller reads are cloned: held states keep growing.
func (s *Service) contact(ctx context.Context, phone string) ([]summary, error) {
	ids, err := s.callbacksOf(ctx, phone)
	if err != nil {
		return nil, err
	}
	out := make([]summary, 0, len(ids))
	for _, id := range ids {
		st, ok, err := s.state(ctx, id)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue // indexed, its first event not recorded yet
		}
		st.Notes, st.Interactions, st.Handlers = slices.Clone(st.Notes), slices.Clone(st.Interactions), slices.Clone(st.Handlers)
		out = append(out, summary{State: st, Outcome: st.Outcome()})
	}
	sortSummaries(out)
	return out, nil
}

// indexer links the events recorded without their index entries: by a
// version before the index, or by one still running beside this one in a
// rolling upgrade. It tails the store from a checkpoint shared by the
// replicas, and counts as caught up (Ready) once past the store's head
// when it started. Events this version recorded say they are indexed, so
// following the store costs a decode per event and no I/O. Replicas may
// run it together: links are idempotent.
func (s *Service) indexer(ctx context.Context) error {
	cps, ok1 := s.deps.Store.(eventstore.Checkpoints)
	hr, ok2 := s.deps.Store.(eventstore.HeadReader)
	if !ok1 || !ok2 {
		s.idx.backfilled.Store(true) // every adapter has both; a test double may not
		return nil
	}
	head, err := hr.Head(ctx)
	if err != nil {
		return fmt.Errorf("indexer: head: %w", err)
	}
	from, err := cps.LoadCheckpoint(ctx, IndexerCheckpoint)
	if err != nil {
		return fmt.Errorf("indexer: checkpoint: %w", err)
	}
	if !from.Less(head) {
		s.idx.backfilled.Store(true)
	}
	var (
		saved    = from
		last     = time.Now()
		backfill = from.Less(head)
	)
	trail := func(stream string) bool { return strings.HasPrefix(stream, timeline.StreamPrefix) }
	subscribe := s.deps.Store.SubscribeAll
	if ss, ok := s.deps.Store.(eventstore.StreamSubscriber); ok {
		// Only the trails are read: the rest of the platform's events are
		// not opened for nothing.
		subscribe = func(ctx context.Context, from eventstore.Position, fn func(context.Context, eventstore.RecordedEvent) error) error {
			return ss.SubscribeStreams(ctx, from, trail, fn)
		}
	}
	err = subscribe(ctx, from, func(ctx context.Context, r eventstore.RecordedEvent) error {
		if trail(r.Stream) {
			if m, err := eventstore.Decode(r); err == nil {
				if rec, ok := m.(*historyv1.InteractionEventRecorded); ok && !rec.Indexed {
					cb := strings.TrimPrefix(r.Stream, timeline.StreamPrefix)
					if err := s.link(ctx, cb, rec.InteractionId, rec.PhoneNumber); err != nil {
						return err
					}
				}
			}
		}
		caughtUp := !r.Position.Less(head)
		// Saved once the backfill is done, then at most once a second: a
		// save is a file written and synced, and past the head it was one
		// per event of the whole platform (issue 12: intake at scale).
		// After a crash the indexer reads a second again; links are
		// idempotent.
		justCaughtUp := caughtUp && backfill
		if justCaughtUp {
			backfill = false
		}
		if justCaughtUp || time.Since(last) > time.Second {
			if saved.Less(r.Position) {
				if err := cps.SaveCheckpoint(ctx, IndexerCheckpoint, r.Position); err != nil {
					return fmt.Errorf("save checkpoint: %w", err)
				}
				saved = r.Position
			}
			last = time.Now()
		}
		if caughtUp {
			s.idx.backfilled.Store(true)
		}
		return nil
	})
	if err != nil && ctx.Err() == nil && !errors.Is(err, eventstore.ErrClosed) {
		return fmt.Errorf("indexer: %w", err)
	}
	return nil
}
