package history

import (
	"container/list"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/personal"
	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
	"github.com/ringback/ringback/services/history/timeline"
)

// view is history's read model, folded from its own streams: a bounded
// set of callbacks' summaries, and recent lookups of which callback an
// interaction belongs to and which callbacks a number has. What it does
// not hold is read from the store (index.go): it is a cache of the store,
// never the only copy, so a replica's memory is bounded by its caps, not
// by every callback there ever was.
//
// Held callbacks are the ones the projection saw from their first event
// (folded whole, in order) and the ones a reader loaded from the store
// since; each keeps the revision it was folded to, so an event is applied
// to it exactly once, whether the projection or a reader brings it.
// Beyond max, an ended callback (COMPLETED or CANCELLED: nothing changes
// it any more but notes) is forgotten before a live one, the least
// recently used first.
type view struct {
	mu       sync.Mutex
	max      int
	held     map[string]*list.Element // callback id -> *heldCallback in live or ended
	live     *list.List               // not ended, most recently used at the front
	ended    *list.List
	callback *lru[string, string]   // interaction id -> callback id, as recorded
	contacts *lru[string, []string] // number -> callbacks recorded lately
}

type heldCallback struct {
	id    string
	state timeline.State
	rev   eventstore.Revision // the last revision folded into state
	ended bool
}

// maxRecentPerContact bounds the callbacks remembered of one number: a
// number called back thousands of times must not grow one entry without
// end; the index stream has them all.
const maxRecentPerContact = 32

// newView holds up to max callbacks; the lookups hold twice as many
// interactions (a callback has one or a few) and max numbers.
func newView(max int) *view {
	return &view{max: max, held: map[string]*list.Element{}, live: list.New(), ended: list.New(),
		callback: newLRU[string, string](2 * max), contacts: newLRU[string, []string](max)}
}

// apply folds an event of the projection.
func (v *view) apply(r eventstore.RecordedEvent, e proto.Message) {
	id := strings.TrimPrefix(r.Stream, timeline.StreamPrefix)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.learn(id, e)
	v.fold(id, r.Revision, e)
}

// learn remembers the lookups an event tells of, held callback or not.
// Forgetting them is safe: the index streams were written before the
// event was recorded.
func (v *view) learn(id string, e proto.Message) {
	rec, ok := e.(*historyv1.InteractionEventRecorded)
	if !ok {
		return
	}
	if rec.InteractionId != "" {
		v.callback.put(rec.InteractionId, id)
	}
	if p := rec.PhoneNumber; p != "" && p != personal.Erased {
		ids, _ := v.contacts.get(p)
		if !slices.Contains(ids, id) {
			ids = append(slices.Clip(ids), id)
			if len(ids) > maxRecentPerContact {
				ids = ids[len(ids)-maxRecentPerContact:]
			}
			v.contacts.put(p, ids)
		}
	}
}

// fold applies the event at rev to callback id if it is held at rev-1, or
// starts holding it at its first event. A held callback that missed an
// event (it was read from the store while the event went by) is dropped,
// not folded wrong: it is read again when needed.
func (v *view) fold(id string, rev eventstore.Revision, e proto.Message) {
	el := v.held[id]
	switch {
	case el == nil && rev == 0:
		v.hold(id, timeline.Evolve(timeline.State{}, e), 0)
	case el == nil:
		// Not held: whoever needs it reads it from the store.
	case rev == el.Value.(*heldCallback).rev+1:
		h := el.Value.(*heldCallback)
		v.hold(id, timeline.Evolve(h.state, e), rev)
	case rev > el.Value.(*heldCallback).rev+1:
		v.drop(id)
	}
}

// hold keeps state as callback id's, the most recently used, and forgets
// beyond max.
func (v *view) hold(id string, st timeline.State, rev eventstore.Revision) {
	ended := st.Outcome().Status.Final()
	v.drop(id)
	l := v.live
	if ended {
		l = v.ended
	}
	for _, iid := range st.Interactions {
		v.callback.put(iid, id)
	}
	v.held[id] = l.PushFront(&heldCallback{id: id, state: st, rev: rev, ended: ended})
	for len(v.held) > v.max {
		victim := v.ended.Back()
		if victim == nil {
			victim = v.live.Back()
		}
		v.drop(victim.Value.(*heldCallback).id)
	}
}

func (v *view) drop(id string) {
	if el := v.held[id]; el != nil {
		if el.Value.(*heldCallback).ended {
			v.ended.Remove(el)
		} else {
			v.live.Remove(el)
		}
		delete(v.held, id)
	}
}

// get is a held callback's state, made the most recently used.
func (v *view) get(id string) (timeline.State, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	el := v.held[id]
	if el == nil {
		return timeline.State{}, false
	}
	h := el.Value.(*heldCallback)
	if h.ended {
		v.ended.MoveToFront(el)
	} else {
		v.live.MoveToFront(el)
	}
	return h.state, true
}

// admit holds a callback read from the store at rev, unless a later
// revision is held already. The caller then folds what was appended since
// its read with catchUp, which closes the window in which the projection
// passed an event by while the callback was not held.
func (v *view) admit(id string, st timeline.State, rev eventstore.Revision) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if el := v.held[id]; el != nil && el.Value.(*heldCallback).rev >= rev {
		return
	}
	v.hold(id, st, rev)
}

// catchUp folds events read from the store into a held callback, with the
// projection's rule.
func (v *view) catchUp(id string, recs []eventstore.RecordedEvent) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, r := range recs {
		if m, err := eventstore.Decode(r); err == nil && v.held[id] != nil {
			v.fold(id, r.Revision, m)
		}
	}
}

// callbackOf is the callback of an interaction, if recorded lately.
func (v *view) callbackOf(interactionID string) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.callback.get(interactionID)
}

// contactOf is the callbacks of a number recorded lately (the store's
// index has them all).
func (v *view) contactOf(phone string) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	ids, _ := v.contacts.get(phone)
	return ids
}

// reset forgets every held callback and number (a contact was erased):
// what is asked next is read from the store again.
func (v *view) reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	clear(v.held)
	v.live.Init()
	v.ended.Init()
	v.contacts = newLRU[string, []string](v.max)
}

// size is how many callbacks are held.
func (v *view) size() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.held)
}

// summary is a callback as the contact history shows it.
type summary struct {
	timeline.State
	timeline.Outcome
}

// sortSummaries puts the newest request first.
func sortSummaries(out []summary) {
	slices.SortFunc(out, func(a, b summary) int {
		if c := b.RequestedAt.Compare(a.RequestedAt); c != 0 {
			return c
		}
		if c := b.LastAt.Compare(a.LastAt); c != 0 {
			return c
		}
		return strings.Compare(a.CallbackID, b.CallbackID)
	})
}
