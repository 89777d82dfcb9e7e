package history

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/proto/catalog"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	dispositionv1 "github.com/ringback/ringback/proto/ringback/disposition/v1"
	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/history/timeline"
)

// legacyView is the view as it was before the cap (git show 5e93015:
// services/history/view.go), kept here only to measure against.
type legacyView struct {
	callbacks     map[string]timeline.State
	byInteraction map[string]string
	byPhone       map[string]map[string]struct{}
}

func (v *legacyView) apply(r eventstore.RecordedEvent, e proto.Message) {
	id := strings.TrimPrefix(r.Stream, timeline.StreamPrefix)
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

// feed folds n whole callback lives into v, as the projection would:
// nine recorded facts and a note each, a case of three fields.
func feed(v interface {
	apply(eventstore.RecordedEvent, proto.Message)
}, n int) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	for i := range n {
		cb, iid := fmt.Sprintf("cb-%08d-0000-4000-8000-000000000000", i), fmt.Sprintf("in-%08d-0000-4000-8000-000000000000", i)
		number := fmt.Sprintf("+1415%07d", i)
		r := &callbackv1.CallbackRequest{Service: "support", PhoneNumber: number, Subject: "Billing question",
			CaseData:    map[string]string{"order": fmt.Sprintf("A-%d", i), "crm": "https://crm.example/" + cb, "tier": "gold"},
			RequestedAt: timestamppb.New(t0)}
		facts := []proto.Message{
			&callbackv1.CallbackRequested{CallbackId: cb, Request: r},
			&callbackv1.CallbackScheduled{CallbackId: cb, Request: r},
			&callbackv1.CallbackDue{CallbackId: cb, Request: r, InteractionId: iid},
			&routingv1.InteractionQueued{InteractionId: iid, CallbackId: cb, Request: r},
			&routingv1.InteractionOffered{InteractionId: iid, CallbackId: cb, AgentId: "agent-0042", Request: r},
			&routingv1.OfferAccepted{InteractionId: iid, AgentId: "agent-0042"},
			&mediav1.CallConnected{InteractionId: iid, CallId: "call-" + iid},
			&dispositionv1.DispositionSet{InteractionId: iid, AgentId: "agent-0042", Code: "resolved"},
			&agentv1.InteractionDone{InteractionId: iid, CallbackId: cb, AgentId: "agent-0042", Disposition: "resolved"},
		}
		stream := timeline.Stream(cb)
		for j, f := range facts {
			data, _ := proto.Marshal(f)
			v.apply(eventstore.RecordedEvent{Stream: stream, Revision: eventstore.Revision(j)},
				&historyv1.InteractionEventRecorded{InteractionId: iid, CallbackId: cb, EventId: fmt.Sprintf("%s-%d", cb, j),
					EventType: catalog.TypeName(f), Source: "x", OccurredAt: timestamppb.New(t0.Add(time.Duration(j) * time.Minute)),
					Data: data, PhoneNumber: number})
		}
		v.apply(eventstore.RecordedEvent{Stream: stream, Revision: eventstore.Revision(len(facts))},
			&historyv1.NoteAdded{InteractionId: iid, AgentId: "agent-0042", Text: "Wants a refund of the last invoice.", At: timestamppb.New(t0)})
	}
}

// heapAfter is the live heap once fn's garbage is collected.
func heapAfter(fn func() any) (uint64, any) {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	before := m.HeapAlloc
	kept := fn()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc - min(before, m.HeapAlloc), kept
}

// BenchmarkViewMemory prints the memory history's view takes for 10,000
// callbacks: held all, as every version before the cap did, and with caps.
// go test -run '^$' -bench ViewMemory -benchtime 1x ./services/history
func BenchmarkViewMemory(b *testing.B) {
	const n = 10000
	for _, c := range []struct {
		name string
		max  int // 0: the view before the cap
	}{{"before(held-all)", 0}, {"cap=none", 1 << 30}, {"cap=1000", 1000}, {"cap=100", 100}} {
		b.Run(c.name, func(b *testing.B) {
			var bytes uint64
			for range b.N {
				var kept any
				bytes, kept = heapAfter(func() any {
					if c.max == 0 {
						v := &legacyView{callbacks: map[string]timeline.State{}, byInteraction: map[string]string{},
							byPhone: map[string]map[string]struct{}{}}
						feed(v, n)
						return v
					}
					v := newView(c.max)
					feed(v, n)
					return v
				})
				if v, ok := kept.(*view); ok && v.size() != min(n, c.max) {
					b.Fatalf("held %d", v.size())
				}
				runtime.KeepAlive(kept)
			}
			b.ReportMetric(float64(bytes)/(1<<20), "MiB/10k-callbacks")
			b.ReportMetric(float64(bytes)/n, "B/callback-seen")
			fmt.Printf("history view, %s: %.1f MiB for 10,000 callbacks\n", c.name, float64(bytes)/(1<<20))
		})
	}
}
