package scheduler

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/libs/servicetest"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/scheduler/schedule"
)

// racingStore lets another writer append to a stream just before this
// service's first append to it: the append then conflicts with a read the
// command was built from.
type racingStore struct {
	eventstore.Store
	stream string
	once   sync.Once
	race   func()
}

func (r *racingStore) Append(ctx context.Context, stream string, exp eventstore.ExpectedRevision, evs ...eventstore.EventData) (eventstore.AppendResult, error) {
	if stream == r.stream {
		r.once.Do(r.race)
	}
	return r.Store.Append(ctx, stream, exp, evs...)
}

// A contact's reschedule whose schedule another replica moved between the
// read and the append is built again from the new state (issue 13: no
// load-compute-execute): here the other replica cancelled it, so the
// reschedule is refused, rather than decided from the state read before.
func TestARescheduleRacingACancelIsBuiltAgainFromTheNewState(t *testing.T) {
	env := servicetest.New(t)
	set, err := serviceconf.Parse([]byte(`
services:
  support:
    office_hours: {zone: Europe/Paris, open: ["Mon-Fri 08:00-20:00"]}
    calling_window: "00:00-24:00"
    capacity: {bucket: 30m, per_bucket: 3}
`), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	id := "0b5a7c1e-0000-4000-8000-000000000009"
	racing := &racingStore{Store: env.Store, stream: schedule.Stream(id)}
	s, err := New(Config{ServiceSet: set}, Deps{Store: racing, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log,
		Metrics: prometheus.NewRegistry(), Mux: http.NewServeMux()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	wish := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	racing.once.Do(func() {}) // the request itself appends undisturbed
	if err := s.handle(ctx, requested(id, wish)); err != nil {
		t.Fatal(err)
	}

	// The next append to the schedule finds it cancelled by another replica.
	racing.once = sync.Once{}
	racing.race = func() {
		_, err := eventstore.Execute(ctx, env.Store, schedule.Stream(id), aggregate, eventstore.Cause{ID: "other-replica-cancel"},
			func(st schedule.State) ([]proto.Message, error) {
				return schedule.Decide(st, schedule.Cancel{ID: id, At: env.Clock.Now(), Reason: "cancelled by the visitor"})
			})
		if err != nil {
			t.Error(err)
		}
	}
	move := envelope.Envelope{ID: "move-1", Type: "ringback.callback.v1.CallbackRescheduleRequested",
		Event: &callbackv1.CallbackRescheduleRequested{CallbackId: id, DesiredTime: timestamppb.New(wish.Add(2 * time.Hour))}}
	rounds := 0
	err = s.executeWithPlace(ctx, id, eventstore.Cause{ID: move.ID, Correlation: id},
		func(ctx context.Context, st schedule.State) (schedule.Command, error) {
			rounds++
			svc := s.service(st.Request.GetService())
			r := schedule.Reschedule{DueAt: wish.Add(2 * time.Hour), At: env.Clock.Now(), Hours: svc.Hours, Window: svc.Window, Contact: true, TTL: svc.TTL}
			moved, err := s.rebook(ctx, move.ID, st, r)
			r.Moved = moved
			return r, err
		})
	if !errors.Is(err, schedule.ErrCancelled) || rounds != 2 {
		t.Fatalf("after the race: %v in %d rounds; want the cancel's refusal in 2", err, rounds)
	}
	for _, e := range env.Events(schedule.Stream(id)) {
		if _, ok := e.(*callbackv1.CallbackRescheduled); ok {
			t.Fatal("a cancelled callback was rescheduled from the state read before the cancel")
		}
	}
	// And through the handler, the refusal is nothing to retry.
	if err := s.handle(ctx, move); err != nil {
		t.Fatalf("handle: %v", err)
	}
}
