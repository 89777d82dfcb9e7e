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

func TestPendingKeepsTheEarliestLiveSchedule(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	at := func(h int) *timestamppb.Timestamp { return timestamppb.New(t0.Add(time.Duration(h) * time.Hour)) }
	p := newPending()
	fold := func(id string, e proto.Message) { p.apply(eventstore.RecordedEvent{Stream: schedule.Stream(id)}, e) }
	want := func(id string, h int, n int) {
		t.Helper()
		got, ok := p.next()
		if !ok || got.id != id || !got.due.Equal(t0.Add(time.Duration(h)*time.Hour)) || p.len() != n {
			t.Fatalf("next = %+v %v with %d pending; want %s at +%dh with %d", got, ok, p.len(), id, h, n)
		}
	}
	fold("a", &callbackv1.CallbackScheduled{CallbackId: "a", DueAt: at(3)})
	fold("b", &callbackv1.CallbackScheduled{CallbackId: "b", DueAt: at(1)})
	fold("c", &callbackv1.CallbackScheduled{CallbackId: "c", DueAt: at(2)})
	want("b", 1, 3)
	fold("b", &callbackv1.CallbackRescheduled{CallbackId: "b", DueAt: at(4)})
	want("c", 2, 3)
	fold("c", &callbackv1.CallbackDue{CallbackId: "c", DueAt: at(2)})
	want("a", 3, 2)
	fold("a", &callbackv1.CallbackUnscheduled{CallbackId: "a"})
	want("b", 4, 1)
	// Fired, then rescheduled by an agent: pending again.
	fold("c", &callbackv1.CallbackRescheduled{CallbackId: "c", DueAt: at(5)})
	fold("b", &callbackv1.CallbackDue{CallbackId: "b", DueAt: at(4)})
	want("c", 5, 1)
	fold("c", &callbackv1.CallbackDue{CallbackId: "c", DueAt: at(5)})
	if e, ok := p.next(); ok || p.len() != 0 {
		t.Fatalf("still pending: %+v", e)
	}
}
