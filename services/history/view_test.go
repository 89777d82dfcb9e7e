package history

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/eventstore"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
	"github.com/ringback/ringback/services/history/timeline"
)

func recorded(cb, iid string, e proto.Message) *historyv1.InteractionEventRecorded {
	data, _ := proto.Marshal(e)
	return &historyv1.InteractionEventRecorded{CallbackId: cb, InteractionId: iid, EventId: fmt.Sprint(e),
		EventType: string(e.ProtoReflect().Descriptor().FullName()), OccurredAt: timestamppb.Now(), Data: data,
		PhoneNumber: "+14155550123"}
}

func requestedEv(cb string) *historyv1.InteractionEventRecorded {
	return recorded(cb, "", &callbackv1.CallbackRequested{CallbackId: cb,
		Request: &callbackv1.CallbackRequest{Service: "support", PhoneNumber: "+14155550123"}})
}

func doneEv(cb string) *historyv1.InteractionEventRecorded {
	return recorded(cb, "i-"+cb, &agentv1.InteractionDone{CallbackId: cb, InteractionId: "i-" + cb})
}

func at(v *view, cb string, rev eventstore.Revision, e proto.Message) {
	v.apply(eventstore.RecordedEvent{Stream: timeline.Stream(cb), Revision: rev}, e)
}

func TestViewFoldsEachEventOnceAndInOrder(t *testing.T) {
	cases := []struct {
		name     string
		run      func(v *view)
		held     bool
		interact string // the held callback's interaction, when held
	}{
		{"from the first event", func(v *view) { at(v, "c", 0, requestedEv("c")); at(v, "c", 1, doneEv("c")) }, true, "i-c"},
		{"not from a later one", func(v *view) { at(v, "c", 1, doneEv("c")) }, false, ""},
		{"an event again is skipped", func(v *view) {
			at(v, "c", 0, requestedEv("c"))
			at(v, "c", 1, doneEv("c"))
			at(v, "c", 1, recorded("c", "i-other", &agentv1.InteractionDone{CallbackId: "c", InteractionId: "i-other"}))
		}, true, "i-c"},
		{"a gap drops it", func(v *view) { at(v, "c", 0, requestedEv("c")); at(v, "c", 2, doneEv("c")) }, false, ""},
		{"admitted, then the projection goes on", func(v *view) {
			v.admit("c", timeline.Evolve(timeline.State{}, requestedEv("c")), 0)
			at(v, "c", 1, doneEv("c"))
		}, true, "i-c"},
		{"an older read does not replace a newer state", func(v *view) {
			at(v, "c", 0, requestedEv("c"))
			at(v, "c", 1, doneEv("c"))
			v.admit("c", timeline.Evolve(timeline.State{}, requestedEv("c")), 0)
		}, true, "i-c"},
		{"caught up after an admission", func(v *view) {
			v.admit("c", timeline.Evolve(timeline.State{}, requestedEv("c")), 0)
			b, _ := proto.Marshal(doneEv("c"))
			v.catchUp("c", []eventstore.RecordedEvent{{Stream: timeline.Stream("c"), Revision: 1,
				Type: "ringback.history.v1.InteractionEventRecorded", Data: b}})
			at(v, "c", 1, doneEv("c")) // the projection brings it too: once
		}, true, "i-c"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := newView(10)
			c.run(v)
			st, held := v.get("c")
			if held != c.held || (held && (st.InteractionID != c.interact || len(st.Interactions) != 1)) {
				t.Fatalf("held %v, state %+v", held, st)
			}
		})
	}
}

func TestViewEvictsEndedBeforeLive(t *testing.T) {
	v := newView(3)
	at(v, "ended1", 0, requestedEv("ended1"))
	at(v, "ended1", 1, doneEv("ended1"))
	at(v, "live1", 0, requestedEv("live1"))
	at(v, "live2", 0, requestedEv("live2"))
	at(v, "live3", 0, requestedEv("live3")) // over the cap: the ended one goes
	if _, ok := v.get("ended1"); ok {
		t.Fatal("ended callback kept over a live one")
	}
	v.get("live1")                          // used: now the most recent
	at(v, "live4", 0, requestedEv("live4")) // only live ones: the least recently used goes
	if _, ok := v.get("live2"); ok || v.size() != 3 {
		t.Fatalf("live2 kept, size %d", v.size())
	}
	for _, id := range []string{"live1", "live3", "live4"} {
		if _, ok := v.get(id); !ok {
			t.Fatalf("%s forgotten", id)
		}
	}
	// Lookups outlive the summaries they came with.
	if cb, ok := v.callbackOf("i-ended1"); !ok || cb != "ended1" {
		t.Fatalf("interaction of an evicted callback: %q %v", cb, ok)
	}
}
