package scheduler

import (
	"maps"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/availability"
	"github.com/ringback/ringback/libs/eventstore"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/scheduler/schedule"
)

// TestPlacesToRelease: which places the releaser gives back, as the fold
// of the slot and schedule streams sees them in store order.
func TestPlacesToRelease(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	b1, b2 := t0, t0.Add(30*time.Minute)
	type step struct {
		stream string
		event  proto.Message
	}
	take := func(id string, b time.Time, n int64) step {
		return step{availability.Stream("support", b), &callbackv1.SlotTaken{CallbackId: id, Take: n}}
	}
	release := func(id string, b time.Time, n int64) step {
		return step{availability.Stream("support", b), &callbackv1.SlotReleased{CallbackId: id, Take: n}}
	}
	scheduled := func(id string, due time.Time) step {
		return step{schedule.Stream(id), &callbackv1.CallbackScheduled{CallbackId: id, DueAt: timestamppb.New(due)}}
	}
	rescheduled := func(id string, due time.Time) step {
		return step{schedule.Stream(id), &callbackv1.CallbackRescheduled{CallbackId: id, DueAt: timestamppb.New(due)}}
	}
	fired := func(id string, due time.Time) step {
		return step{schedule.Stream(id), &callbackv1.CallbackDue{CallbackId: id, DueAt: timestamppb.New(due)}}
	}
	cancelled := func(id string) step {
		return step{schedule.Stream(id), &callbackv1.CallbackUnscheduled{CallbackId: id}}
	}
	accepted := func(id string) step {
		return step{schedule.Stream(id), &callbackv1.CallbackAccepted{CallbackId: id, AgentId: "a1"}}
	}
	key := func(id string, b time.Time) placeKey { return placeKey{id, "support", b.Unix()} }
	cases := []struct {
		name  string
		steps []step
		want  map[placeKey]int64
	}{
		{"taken, then scheduled in the bucket: kept", []step{take("a", b1, 1), scheduled("a", b1.Add(10*time.Minute))}, map[placeKey]int64{}},
		{"taken, not scheduled yet: kept", []step{take("a", b1, 1)}, map[placeKey]int64{}},
		{"fired: released", []step{take("a", b1, 1), scheduled("a", b1), fired("a", b1)}, map[placeKey]int64{key("a", b1): 1}},
		{"cancelled: released", []step{take("a", b1, 1), scheduled("a", b1), cancelled("a")}, map[placeKey]int64{key("a", b1): 1}},
		{"moved out of the bucket: released", []step{take("a", b1, 1), scheduled("a", b1), rescheduled("a", b2.Add(time.Hour))},
			map[placeKey]int64{key("a", b1): 1}},
		{"a place elsewhere: the old one released", []step{take("a", b1, 1), scheduled("a", b1), take("a", b2, 1), rescheduled("a", b2)},
			map[placeKey]int64{key("a", b1): 1}},
		{"fired, then back in the bucket before the release: kept", []step{take("a", b1, 1), scheduled("a", b1), fired("a", b1),
			take("a", b1, 2), rescheduled("a", b1.Add(5*time.Minute))}, map[placeKey]int64{}},
		{"an event that says nothing of the due time: kept", []step{take("a", b1, 1), scheduled("a", b1), accepted("a")}, map[placeKey]int64{}},
		{"released: nothing left", []step{take("a", b1, 1), scheduled("a", b1), fired("a", b1), release("a", b1, 1)}, map[placeKey]int64{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &Service{pending: newPending()}
			s.places = newPlaces(func(_ string, start time.Time) time.Time { return start.Add(30 * time.Minute) })
			s.bookings = availability.NewBookings()
			for _, st := range c.steps {
				r := eventstore.RecordedEvent{Stream: st.stream}
				if st.stream[:len(availability.StreamPrefix)] == availability.StreamPrefix {
					s.applyBookings(r, st.event)
				} else {
					s.applySchedule(r, st.event)
				}
			}
			if got := s.places.toRelease(); !maps.Equal(got, c.want) {
				t.Fatalf("to release %v, want %v", got, c.want)
			}
		})
	}
}
