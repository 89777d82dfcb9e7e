package history

import (
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/services/history/timeline"
)

// view is history's read model, folded from its own streams so it survives a
// restart: every callback's summary, which callback an interaction belongs
// to, and a contact's callbacks. It keeps every callback ever seen; the
// retention of contact history is a product decision not taken yet.
type view struct {
	mu            sync.RWMutex
	callbacks     map[string]timeline.State      // callback id -> summary
	byInteraction map[string]string              // interaction id -> callback id
	byPhone       map[string]map[string]struct{} // E.164 number -> callback ids
}

func newView() *view {
	return &view{callbacks: map[string]timeline.State{}, byInteraction: map[string]string{},
		byPhone: map[string]map[string]struct{}{}}
}

func (v *view) apply(r eventstore.RecordedEvent, e proto.Message) {
	id := strings.TrimPrefix(r.Stream, timeline.StreamPrefix)
	v.mu.Lock()
	defer v.mu.Unlock()
	st := timeline.Evolve(v.callbacks[id], e)
	v.callbacks[id] = st
	for _, iid := range st.Interactions {
		v.byInteraction[iid] = id
	}
	if st.PhoneNumber != "" {
		set := v.byPhone[st.PhoneNumber]
		if set == nil {
			set = map[string]struct{}{}
			v.byPhone[st.PhoneNumber] = set
		}
		set[id] = struct{}{}
	}
}

// callbackOf is the callback an interaction belongs to.
func (v *view) callbackOf(interactionID string) (string, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	id, ok := v.byInteraction[interactionID]
	return id, ok
}

// handledBy says whether an interaction of the callback was offered to or
// accepted by agent.
func (v *view) handledBy(callbackID, agent string) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.callbacks[callbackID].HandledBy(agent)
}

// handlesContact says whether agent was offered or accepted an interaction
// of the number's callbacks: the contact they are handling.
func (v *view) handlesContact(phone, agent string) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for id := range v.byPhone[phone] {
		if v.callbacks[id].HandledBy(agent) {
			return true
		}
	}
	return false
}

// latestInteraction is the callback's current interaction, if it has one yet.
func (v *view) latestInteraction(callbackID string) string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.callbacks[callbackID].InteractionID
}

// summary is a callback as the contact history shows it.
type summary struct {
	timeline.State
	timeline.Outcome
}

// contact is the callbacks of a number, newest request first. The slices the
// caller reads are cloned so it may read them unlocked.
func (v *view) contact(phone string) []summary {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]summary, 0, len(v.byPhone[phone]))
	for id := range v.byPhone[phone] {
		st := v.callbacks[id]
		st.Notes, st.Interactions, st.Handlers = slices.Clone(st.Notes), slices.Clone(st.Interactions), slices.Clone(st.Handlers)
		out = append(out, summary{State: st, Outcome: st.Outcome()})
	}
	slices.SortFunc(out, func(a, b summary) int {
		if c := b.RequestedAt.Compare(a.RequestedAt); c != 0 {
			return c
		}
		if c := b.LastAt.Compare(a.LastAt); c != 0 {
			return c
		}
		return strings.Compare(a.CallbackID, b.CallbackID)
	})
	return out
}
