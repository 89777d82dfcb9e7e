package offer

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

const timeout = 15 * time.Second

func queued() *routingv1.InteractionQueued {
	return &routingv1.InteractionQueued{InteractionId: "i1", CallbackId: "c1", QueuedAt: timestamppb.New(t0),
		Request: &callbackv1.CallbackRequest{Service: "support", PhoneNumber: "+14155550123"}}
}

func offered(agent string, n int) *routingv1.InteractionOffered {
	at := t0.Add(time.Duration(n) * time.Minute)
	return &routingv1.InteractionOffered{InteractionId: "i1", AgentId: agent, OfferId: OfferID("i1", n),
		OfferedAt: timestamppb.New(at), ExpiresAt: timestamppb.New(at.Add(timeout))}
}

func rejected(agent string, n int) *routingv1.OfferRejected {
	return &routingv1.OfferRejected{InteractionId: "i1", AgentId: agent, OfferId: OfferID("i1", n)}
}

func fold(events ...proto.Message) State {
	s := State{}
	for _, e := range events {
		s = Evolve(s, e)
	}
	return s
}

func TestDecide(t *testing.T) {
	// The first offer is made at t0+1m and runs out at t0+1m15s.
	inTime, late := t0.Add(time.Minute+time.Second), t0.Add(time.Minute+timeout)
	q := Queue{InteractionID: "i1", CallbackID: "c1", At: t0}
	cases := []struct {
		name    string
		given   []proto.Message
		when    Command
		want    []proto.Message // types and the fields that matter
		wantErr error
	}{
		{"queue new", nil, q, []proto.Message{&routingv1.InteractionQueued{InteractionId: "i1", CallbackId: "c1"}}, nil},
		{"queue again is nothing", []proto.Message{queued()}, q, nil, nil},
		{"queue closed is nothing", []proto.Message{queued(), &routingv1.InteractionClosed{}}, q, nil, nil},
		{"queue without id", nil, Queue{CallbackID: "c1", At: t0}, nil, ErrNoID},

		{"offer waiting", []proto.Message{queued()}, Make{Agent: "a1", At: t0, Timeout: timeout},
			[]proto.Message{&routingv1.InteractionOffered{InteractionId: "i1", AgentId: "a1", OfferId: "i1:1", CallbackId: "c1"}}, nil},
		{"second offer gets the next id", []proto.Message{queued(), offered("a1", 1), rejected("a1", 1)},
			Make{Agent: "a2", At: t0, Timeout: timeout},
			[]proto.Message{&routingv1.InteractionOffered{InteractionId: "i1", AgentId: "a2", OfferId: "i1:2", CallbackId: "c1"}}, nil},
		{"offer while offered", []proto.Message{queued(), offered("a1", 1)}, Make{Agent: "a2", At: t0, Timeout: timeout}, nil, ErrNotWaiting},
		{"offer unknown", nil, Make{Agent: "a1", At: t0, Timeout: timeout}, nil, ErrNotWaiting},
		{"offer accepted", []proto.Message{queued(), offered("a1", 1), &routingv1.OfferAccepted{}},
			Make{Agent: "a2", At: t0, Timeout: timeout}, nil, ErrNotWaiting},
		{"offer without agent", []proto.Message{queued()}, Make{At: t0, Timeout: timeout}, nil, ErrNoAgent},
		{"offer without timeout", []proto.Message{queued()}, Make{Agent: "a1", At: t0}, nil, ErrNoTimeout},

		{"accept in time", []proto.Message{queued(), offered("a1", 1)}, Accept{Agent: "a1", OfferID: "i1:1", At: inTime},
			[]proto.Message{&routingv1.OfferAccepted{InteractionId: "i1", AgentId: "a1", OfferId: "i1:1"}}, nil},
		{"accept at expiry times out", []proto.Message{queued(), offered("a1", 1)}, Accept{Agent: "a1", OfferID: "i1:1", At: late},
			[]proto.Message{&routingv1.OfferTimedOut{InteractionId: "i1", AgentId: "a1", OfferId: "i1:1"}}, nil},
		{"accept an old offer is nothing", []proto.Message{queued(), offered("a1", 1), rejected("a1", 1), offered("a2", 2)},
			Accept{Agent: "a1", OfferID: "i1:1", At: inTime}, nil, nil},
		{"accept by another agent is nothing", []proto.Message{queued(), offered("a1", 1)},
			Accept{Agent: "a2", OfferID: "i1:1", At: inTime}, nil, nil},
		{"accept twice is nothing", []proto.Message{queued(), offered("a1", 1), &routingv1.OfferAccepted{}},
			Accept{Agent: "a1", OfferID: "i1:1", At: inTime}, nil, nil},

		{"reject current", []proto.Message{queued(), offered("a1", 1)}, Reject{Agent: "a1", OfferID: "i1:1", At: inTime},
			[]proto.Message{&routingv1.OfferRejected{InteractionId: "i1", AgentId: "a1", OfferId: "i1:1"}}, nil},
		{"reject after timeout is nothing", []proto.Message{queued(), offered("a1", 1), &routingv1.OfferTimedOut{AgentId: "a1"}},
			Reject{Agent: "a1", OfferID: "i1:1", At: inTime}, nil, nil},

		{"expire due", []proto.Message{queued(), offered("a1", 1)}, Expire{OfferID: "i1:1", At: late},
			[]proto.Message{&routingv1.OfferTimedOut{InteractionId: "i1", AgentId: "a1", OfferId: "i1:1"}}, nil},
		{"expire early is nothing", []proto.Message{queued(), offered("a1", 1)}, Expire{OfferID: "i1:1", At: inTime}, nil, nil},
		{"expire accepted is nothing", []proto.Message{queued(), offered("a1", 1), &routingv1.OfferAccepted{}},
			Expire{OfferID: "i1:1", At: late}, nil, nil},

		{"close waiting", []proto.Message{queued()}, Close{At: t0, Reason: "done"},
			[]proto.Message{&routingv1.InteractionClosed{InteractionId: "i1", Reason: "done"}}, nil},
		{"close accepted", []proto.Message{queued(), offered("a1", 1), &routingv1.OfferAccepted{}}, Close{At: t0, Reason: "done"},
			[]proto.Message{&routingv1.InteractionClosed{InteractionId: "i1", Reason: "done"}}, nil},
		{"cancel offered", []proto.Message{queued(), offered("a1", 1)}, Close{At: t0, Reason: "cancelled", OnlyUnaccepted: true},
			[]proto.Message{&routingv1.InteractionClosed{InteractionId: "i1", Reason: "cancelled"}}, nil},
		{"cancel accepted is nothing", []proto.Message{queued(), offered("a1", 1), &routingv1.OfferAccepted{}},
			Close{At: t0, OnlyUnaccepted: true}, nil, nil},
		{"close twice is nothing", []proto.Message{queued(), &routingv1.InteractionClosed{}}, Close{At: t0}, nil, nil},
		{"close unknown is nothing", nil, Close{At: t0}, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decide(fold(c.given...), c.when)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for i := range got {
				if !sameKey(got[i], c.want[i]) {
					t.Errorf("event %d = %v, want %v", i, got[i], c.want[i])
				}
			}
		})
	}
}

// sameKey compares the fields a table row cares about: type, interaction,
// agent, offer and callback ids, and the close reason.
func sameKey(got, want proto.Message) bool {
	type keyed interface {
		GetInteractionId() string
	}
	if got.ProtoReflect().Descriptor() != want.ProtoReflect().Descriptor() {
		return false
	}
	if g, w := got.(keyed), want.(keyed); g.GetInteractionId() != w.GetInteractionId() {
		return false
	}
	for _, f := range []string{"agent_id", "offer_id", "callback_id", "reason"} {
		fd := want.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(f))
		if fd == nil {
			continue
		}
		if got.ProtoReflect().Get(fd).String() != want.ProtoReflect().Get(fd).String() {
			return false
		}
	}
	return true
}

func TestOfferCarriesTheInteraction(t *testing.T) {
	s := fold(queued())
	got, err := Decide(s, Make{Agent: "a1", At: t0.Add(time.Minute), Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	o := got[0].(*routingv1.InteractionOffered)
	if !o.ExpiresAt.AsTime().Equal(t0.Add(time.Minute+timeout)) || !o.QueuedAt.AsTime().Equal(t0) ||
		o.Request.GetService() != "support" {
		t.Fatalf("offer = %v", o)
	}
}

func TestEvolveRemembersWhoPassed(t *testing.T) {
	s := fold(queued(), offered("a1", 1), rejected("a1", 1), offered("a2", 2),
		&routingv1.OfferTimedOut{InteractionId: "i1", AgentId: "a2", OfferId: "i1:2"},
		offered("a1", 3), rejected("a1", 3))
	if s.Status != Waiting || s.Attempts != 3 || len(s.Passed) != 2 || !s.HasPassed("a1") || !s.HasPassed("a2") {
		t.Fatalf("state = %+v", s)
	}
}

// FuzzNeverTwoLiveOffers: whatever commands arrive in whatever order, an
// interaction holds at most one offer and offer ids are never reused.
func FuzzNeverTwoLiveOffers(f *testing.F) {
	f.Add([]byte{0, 1, 2, 1, 3, 1, 4, 5})
	f.Fuzz(func(t *testing.T, ops []byte) {
		s := fold(queued())
		seen := map[string]bool{}
		now := t0
		for _, op := range ops {
			now = now.Add(time.Duration(op%7) * 3 * time.Second)
			agent := []string{"a1", "a2"}[op>>7]
			var c Command
			switch op % 6 {
			case 0, 1:
				c = Make{Agent: agent, At: now, Timeout: timeout}
			case 2:
				c = Accept{Agent: agent, OfferID: s.Offer.ID, At: now}
			case 3:
				c = Reject{Agent: agent, OfferID: s.Offer.ID, At: now}
			case 4:
				c = Expire{OfferID: s.Offer.ID, At: now}
			case 5:
				c = Close{At: now, OnlyUnaccepted: true}
			}
			events, err := Decide(s, c)
			if err != nil && !errors.Is(err, ErrNotWaiting) {
				t.Fatalf("%T: %v", c, err)
			}
			for _, e := range events {
				if o, ok := e.(*routingv1.InteractionOffered); ok {
					if s.Status == Offered || seen[o.OfferId] {
						t.Fatalf("second live offer %s in %v", o.OfferId, s)
					}
					seen[o.OfferId] = true
				}
				s = Evolve(s, e)
			}
		}
	})
}
