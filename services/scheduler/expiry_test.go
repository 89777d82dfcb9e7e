package scheduler

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/eventstore"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/scheduler/schedule"
)

// The expiry view keeps a callback while its time to live runs, whatever
// the order of firings, retries and acceptances.
func TestExpiringView(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	exp := timestamppb.New(t0.Add(time.Hour))
	rec := eventstore.RecordedEvent{Stream: schedule.Stream("c1")}
	cases := []struct {
		name   string
		events []proto.Message
		want   bool
	}{
		{"scheduled", []proto.Message{&callbackv1.CallbackScheduled{CallbackId: "c1", ExpiresAt: exp}}, true},
		{"no time to live", []proto.Message{&callbackv1.CallbackScheduled{CallbackId: "c1"}}, false},
		{"queued", []proto.Message{&callbackv1.CallbackScheduled{CallbackId: "c1", ExpiresAt: exp},
			&callbackv1.CallbackDue{CallbackId: "c1", InteractionId: "i1"}}, true},
		{"accepted", []proto.Message{&callbackv1.CallbackScheduled{CallbackId: "c1", ExpiresAt: exp},
			&callbackv1.CallbackDue{CallbackId: "c1", InteractionId: "i1"},
			&callbackv1.CallbackAccepted{CallbackId: "c1", InteractionId: "i1", AgentId: "a1"}}, false},
		{"retried after acceptance", []proto.Message{&callbackv1.CallbackScheduled{CallbackId: "c1", ExpiresAt: exp},
			&callbackv1.CallbackDue{CallbackId: "c1", InteractionId: "i1"},
			&callbackv1.CallbackAccepted{CallbackId: "c1", InteractionId: "i1", AgentId: "a1"},
			&callbackv1.CallbackRescheduled{CallbackId: "c1", ExpiresAt: exp}}, true},
		{"retried unaccepted, then accepted again", []proto.Message{&callbackv1.CallbackScheduled{CallbackId: "c1", ExpiresAt: exp},
			&callbackv1.CallbackDue{CallbackId: "c1", InteractionId: "i1"},
			&callbackv1.CallbackRescheduled{CallbackId: "c1", ExpiresAt: exp},
			&callbackv1.CallbackDue{CallbackId: "c1", InteractionId: "i2"},
			&callbackv1.CallbackAccepted{CallbackId: "c1", InteractionId: "i2", AgentId: "a1"}}, false},
		{"an earlier interaction's acceptance", []proto.Message{&callbackv1.CallbackScheduled{CallbackId: "c1", ExpiresAt: exp},
			&callbackv1.CallbackDue{CallbackId: "c1", InteractionId: "i1"},
			&callbackv1.CallbackRescheduled{CallbackId: "c1", ExpiresAt: exp},
			&callbackv1.CallbackAccepted{CallbackId: "c1", InteractionId: "i1", AgentId: "a1"}}, true},
		{"expired", []proto.Message{&callbackv1.CallbackScheduled{CallbackId: "c1", ExpiresAt: exp},
			&callbackv1.CallbackExpired{CallbackId: "c1"}}, false},
	}
	for _, c := range cases {
		x := newExpiring()
		for _, e := range c.events {
			x.apply(rec, e)
		}
		next, ok := x.next()
		if ok != c.want || (ok && (next.id != "c1" || !next.due.Equal(exp.AsTime()))) {
			t.Errorf("%s: %v %v, want expiring %v", c.name, next, ok, c.want)
		}
	}
}
