package scheduler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringback/ringback/libs/availability"
	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/scheduler/schedule"
	"github.com/ringback/ringback/services/scheduler/slot"
)

// TestReplicasNeverOverbookTheLastPlaces: replicas (each its own Service on
// the one store, sharing nothing else) race for the places of one bucket;
// exactly its capacity get one, the others are refused as full.
func TestReplicasNeverOverbookTheLastPlaces(t *testing.T) {
	env := servicetest.New(t)
	const replicas, capacity = 16, 5
	bucket := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	var (
		wg           sync.WaitGroup
		mu           sync.Mutex
		taken, full  int
		unexpected   []error
		services     = make([]*Service, replicas)
		readyToStart = make(chan struct{})
	)
	for i := range services {
		s, err := New(Config{}, Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log,
			Metrics: prometheus.NewRegistry(), Mux: http.NewServeMux()})
		if err != nil {
			t.Fatal(err)
		}
		services[i] = s
	}
	for i, s := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-readyToStart
			err := s.take(context.Background(), fmt.Sprintf("request-%d", i), fmt.Sprintf("callback-%d", i), "support", bucket, capacity, env.Clock.Now())
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				taken++
			case errors.Is(err, slot.ErrFull):
				full++
			default:
				unexpected = append(unexpected, err)
			}
		}()
	}
	close(readyToStart)
	wg.Wait()
	if taken != capacity || full != replicas-capacity || len(unexpected) > 0 {
		t.Fatalf("taken %d, full %d, errors %v; want %d taken", taken, full, unexpected, capacity)
	}
	holders := 0
	for _, e := range env.Events(availability.Stream("support", bucket)) {
		if _, ok := e.(*callbackv1.SlotTaken); ok {
			holders++
		}
	}
	if holders != capacity {
		t.Fatalf("%d SlotTaken in the stream, want %d", holders, capacity)
	}
}

// TestRaceForAFullSlotMovesTheCallback: two replicas' handlers get requests
// for the one place of a bucket at once (intake's check saw it free for
// both); one gets it, the other is moved to the nearest slot with room and
// its schedule says why.
func TestRaceForAFullSlotMovesTheCallback(t *testing.T) {
	env := servicetest.New(t)
	set, err := serviceconf.Parse([]byte(`
services:
  support:
    office_hours: {zone: Europe/Paris, open: ["Mon-Fri 08:00-20:00"]}
    calling_window: "00:00-24:00"
    capacity: {bucket: 30m, per_bucket: 1, when_full: refuse}
`), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	var services [2]*Service
	for i := range services {
		s, err := New(Config{ServiceSet: set}, Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log,
			Metrics: prometheus.NewRegistry(), Mux: http.NewServeMux()})
		if err != nil {
			t.Fatal(err)
		}
		services[i] = s
	}
	wish := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	ids := [2]string{"0b5a7c1e-0000-4000-8000-000000000001", "0b5a7c1e-0000-4000-8000-000000000002"}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.handle(context.Background(), requested(ids[i], wish))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var dues []time.Time
	moved := 0
	for _, id := range ids {
		for _, e := range env.Events("scheduler-callback-" + id) {
			if s, ok := e.(*callbackv1.CallbackScheduled); ok {
				dues = append(dues, s.DueAt.AsTime())
				if s.MovedByCapacity != nil {
					moved++
					t.Logf("moved: %s", s.MovedByCapacity.Reason)
				}
			}
		}
	}
	if len(dues) != 2 || moved != 1 || dues[0].Equal(dues[1]) {
		t.Fatalf("dues %v, %d moved; want one at the wish and one moved", dues, moved)
	}
}

// TestRetryIsCountedInItsBucket: a retry the policy schedules holds a
// place in the bucket of its new due time, like the request did.
func TestRetryIsCountedInItsBucket(t *testing.T) {
	env := servicetest.New(t)
	set, err := serviceconf.Parse([]byte(`
services:
  support:
    office_hours: {zone: Europe/Paris, open: ["Mon-Fri 08:00-20:00"]}
    calling_window: "00:00-24:00"
    capacity: {bucket: 30m, per_bucket: 1}
`), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{ServiceSet: set}, Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log,
		Metrics: prometheus.NewRegistry(), Mux: http.NewServeMux()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := "0b5a7c1e-0000-4000-8000-000000000003"
	wish := time.Date(2026, 11, 25, 10, 25, 0, 0, time.UTC)
	if err := s.handle(ctx, requested(id, wish)); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(wish.Sub(env.Clock.Now()))
	if _, err := s.execute(ctx, id, eventstore.Cause{ID: "fire"}, schedule.Fire{At: env.Clock.Now()}); err != nil {
		t.Fatal(err)
	}
	// A failed call: tried again 10 minutes later, at 10:35, in the
	// 10:30 bucket (11:30 in Paris).
	done := envelope.Envelope{ID: "done-1", Type: "ringback.agent.v1.InteractionDone", Event: &agentv1.InteractionDone{
		CallbackId: id, InteractionId: schedule.InteractionID(id, 0), Rescheduled: true, RetryOutcome: "failed", Attempts: 1}}
	if err := s.handle(ctx, done); err != nil {
		t.Fatal(err)
	}
	var due time.Time
	for _, e := range env.Events(schedule.Stream(id)) {
		if r, ok := e.(*callbackv1.CallbackRescheduled); ok {
			due = r.DueAt.AsTime()
		}
	}
	if !due.Equal(wish.Add(10 * time.Minute)) {
		t.Fatalf("retry due %s", due)
	}
	var takes []string
	for _, e := range env.Events(availability.Stream("support", time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC))) {
		if tk, ok := e.(*callbackv1.SlotTaken); ok {
			takes = append(takes, tk.CallbackId)
		}
	}
	if len(takes) != 1 || takes[0] != id {
		t.Fatalf("places taken in the retry's bucket: %v", takes)
	}
}
