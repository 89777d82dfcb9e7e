package scheduler

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/servicetest"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/scheduler/schedule"
)

// newService builds a scheduler on env's store without running it, so a test
// can drive its handler and its firing directly.
func newService(t *testing.T, env *servicetest.Env) *Service {
	t.Helper()
	s, err := New(Config{}, Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log,
		Metrics: prometheus.NewRegistry(), Mux: http.NewServeMux()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func requested(id string, desired time.Time) envelope.Envelope {
	r := &callbackv1.CallbackRequest{Service: "support", PhoneNumber: "+33612345678", RequestedAt: timestamppb.New(servicetest.Start)}
	if !desired.IsZero() {
		r.DesiredTime = timestamppb.New(desired)
	}
	return envelope.Envelope{ID: uuid.NewString(), Type: "ringback.callback.v1.CallbackRequested",
		Stream: "intake-callback-" + id, Event: &callbackv1.CallbackRequested{CallbackId: id, Request: r}}
}

func count[T any](env *servicetest.Env, stream string) int {
	n := 0
	for _, e := range env.Events(stream) {
		if _, ok := e.(T); ok {
			n++
		}
	}
	return n
}

func TestRedeliveredRequestAppendsNothing(t *testing.T) {
	env := servicetest.New(t)
	s := newService(t, env)
	ctx := context.Background()
	id := uuid.NewString()
	e := requested(id, time.Time{})
	for range 2 {
		if err := s.handle(ctx, e); err != nil {
			t.Fatal(err)
		}
		// A redelivery comes later; it must not move or re-fire anything.
		env.Clock.Advance(time.Minute)
	}
	if n := len(env.Events(schedule.Stream(id))); n != 2 {
		t.Fatalf("%d events, want CallbackScheduled and CallbackDue once", n)
	}
}

func TestConcurrentFiringsMakeOneDue(t *testing.T) {
	env := servicetest.New(t)
	ctx := context.Background()
	a, b := newService(t, env), newService(t, env)
	id := uuid.NewString()
	due := servicetest.Start.Add(time.Hour)
	if err := a.handle(ctx, requested(id, due)); err != nil {
		t.Fatal(err)
	}
	// Two instances (a rolling deploy) and a retry, all at once.
	var wg sync.WaitGroup
	for _, s := range []*Service{a, b, a} {
		wg.Go(func() {
			if err := s.fire(ctx, entry{id: id, due: due}, due.Add(time.Second)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := count[*callbackv1.CallbackDue](env, schedule.Stream(id)); n != 1 {
		t.Fatalf("%d CallbackDue, want 1", n)
	}
}

// A contact's reschedule delivered twice moves the callback and takes its
// new place once.
func TestRedeliveredContactRescheduleAppendsNothing(t *testing.T) {
	env := servicetest.New(t)
	s := newService(t, env)
	ctx := context.Background()
	id := uuid.NewString()
	if err := s.handle(ctx, requested(id, servicetest.Start.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	e := envelope.Envelope{ID: uuid.NewString(), Type: "ringback.callback.v1.CallbackRescheduleRequested",
		Stream: "intake-callback-" + id, Event: &callbackv1.CallbackRescheduleRequested{CallbackId: id,
			DesiredTime: timestamppb.New(servicetest.Start.Add(2 * time.Hour)), At: timestamppb.New(servicetest.Start)}}
	for range 2 {
		if err := s.handle(ctx, e); err != nil {
			t.Fatal(err)
		}
		env.Clock.Advance(time.Minute)
	}
	if n := count[*callbackv1.CallbackRescheduled](env, schedule.Stream(id)); n != 1 {
		t.Fatalf("%d CallbackRescheduled, want 1", n)
	}
}
