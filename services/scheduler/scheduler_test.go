package scheduler_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/servicetest"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/scheduler"
	"github.com/ringback/ringback/services/scheduler/schedule"
)

// instance is one running scheduler that a test can stop on its own, to
// start another one on the same store.
type instance struct {
	svc  *scheduler.Service
	reg  *prometheus.Registry
	stop func()
}

// start runs a scheduler in env; the first one shares env's registry and mux.
func start(t *testing.T, env *servicetest.Env, cfg scheduler.Config, first bool) *instance {
	t.Helper()
	reg, mux := env.Registry, env.Mux
	if !first {
		reg, mux = prometheus.NewRegistry(), http.NewServeMux()
	}
	svc, err := scheduler.New(cfg, scheduler.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock,
		Log: env.Log, Metrics: reg, Mux: mux})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	in := &instance{svc: svc, reg: reg}
	stopped := false
	in.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("scheduler run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("scheduler did not stop within 10s")
		}
	}
	// Stop before the store closes (cleanups run last-registered first).
	t.Cleanup(in.stop)
	waitSubscribed(t, env)
	return in
}

// newEnv is a world with one scheduler running and the relay publishing.
func newEnv(t *testing.T, cfg scheduler.Config) (*servicetest.Env, *instance) {
	env := servicetest.New(t)
	in := start(t, env, cfg, true)
	env.Relay(scheduler.Topics...)
	return env, in
}

// request appends a CallbackRequested as intake would and returns its id.
func request(env *servicetest.Env, service string, desired time.Time) string {
	id := uuid.NewString()
	r := &callbackv1.CallbackRequest{Service: service, PhoneNumber: "+33612345678", Subject: "Billing",
		RequestedAt: timestamppb.New(env.Clock.Now())}
	if !desired.IsZero() {
		r.DesiredTime = timestamppb.New(desired)
	}
	env.Append("intake-callback-"+id, "request:"+id, &callbackv1.CallbackRequested{CallbackId: id, Request: r})
	return id
}

// types lists the event types of a stream, e.g. "CallbackScheduled,CallbackDue".
func types(env *servicetest.Env, stream string) string {
	var out []string
	for _, e := range env.Events(stream) {
		out = append(out, string(e.ProtoReflect().Descriptor().Name()))
	}
	return strings.Join(out, ",")
}

// eventually waits for cond, failing with what after 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// advance moves the fake clock once the scheduler has armed its timer.
func advance(t *testing.T, env *servicetest.Env, d time.Duration) {
	t.Helper()
	eventually(t, "a timer armed", func() bool { return env.Clock.Waiters() > 0 })
	env.Clock.Advance(d)
}

func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestASAPIsScheduledAndDueInOneAppend(t *testing.T) {
	env, in := newEnv(t, scheduler.Config{})
	id := request(env, "support", time.Time{})
	stream := schedule.Stream(id)
	dueEv := servicetest.WaitEvent[*callbackv1.CallbackDue](env, stream)
	if got := types(env, stream); got != "CallbackScheduled,CallbackDue" {
		t.Fatalf("stream %s = %s", stream, got)
	}
	if !dueEv.DueAt.AsTime().Equal(servicetest.Start) || dueEv.InteractionId != schedule.InteractionID(id, 0) ||
		dueEv.Request.GetSubject() != "Billing" {
		t.Fatalf("due = %v", dueEv)
	}
	// One cause, one append: the router gets it without a timer hop.
	recs, _ := env.Store.ReadStream(context.Background(), stream, 0)
	if c0, c1 := recs[0].Metadata[eventstore.MetaCausation], recs[1].Metadata[eventstore.MetaCausation]; c0 != c1 {
		t.Fatalf("scheduled (cause %s) and due (cause %s) not written together", c0, c1)
	}
	if got := metric(t, in.reg, "ringback_callbacks_fired_total"); got != 1 {
		t.Fatalf("fired = %v", got)
	}

	var v struct {
		Status        string    `json:"status"`
		DueAt         time.Time `json:"due_at"`
		InteractionID string    `json:"interaction_id"`
	}
	if res := env.Do("GET", "/v1/schedule/"+id, nil, &v); res.StatusCode != http.StatusOK || v.Status != "fired" ||
		v.InteractionID != dueEv.InteractionId || !v.DueAt.Equal(servicetest.Start) {
		t.Fatalf("GET schedule: %d %+v", res.StatusCode, v)
	}
	if res := env.Do("GET", "/v1/schedule/"+uuid.NewString(), nil, nil); res.StatusCode != http.StatusNotFound ||
		res.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("GET unknown schedule: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

func TestFutureFiresOnceWhenTheClockGetsThere(t *testing.T) {
	env, in := newEnv(t, scheduler.Config{})
	id := request(env, "support", servicetest.Start.Add(2*time.Hour))
	stream := schedule.Stream(id)
	sch := servicetest.WaitEvent[*callbackv1.CallbackScheduled](env, stream)
	if !sch.DueAt.AsTime().Equal(servicetest.Start.Add(2 * time.Hour)) {
		t.Fatalf("due at %v", sch.DueAt.AsTime())
	}
	eventually(t, "one pending", func() bool { return metric(t, in.reg, "ringback_callbacks_pending") == 1 })
	if got := types(env, stream); got != "CallbackScheduled" {
		t.Fatalf("before the time: %s", got)
	}

	advance(t, env, 2*time.Hour)
	servicetest.WaitEvent[*callbackv1.CallbackDue](env, stream)
	// Another, later callback fires after it: by then a second firing of
	// the first would have happened too.
	other := request(env, "support", env.Clock.Now().Add(time.Hour))
	servicetest.WaitEvent[*callbackv1.CallbackScheduled](env, schedule.Stream(other))
	advance(t, env, time.Hour)
	servicetest.WaitEvent[*callbackv1.CallbackDue](env, schedule.Stream(other))
	if got := types(env, stream); got != "CallbackScheduled,CallbackDue" {
		t.Fatalf("after the time: %s", got)
	}
	eventually(t, "none pending", func() bool { return metric(t, in.reg, "ringback_callbacks_pending") == 0 })
	if got := metric(t, in.reg, "ringback_callbacks_fired_total"); got != 2 {
		t.Fatalf("fired = %v", got)
	}
}

func TestCancelledNeverFires(t *testing.T) {
	env, _ := newEnv(t, scheduler.Config{})
	id := request(env, "support", servicetest.Start.Add(2*time.Hour))
	servicetest.WaitEvent[*callbackv1.CallbackScheduled](env, schedule.Stream(id))
	env.Append("intake-callback-"+id, "cancel:"+id,
		&callbackv1.CallbackCancelled{CallbackId: id, At: timestamppb.New(env.Clock.Now()), Reason: "cancelled by the visitor"})
	servicetest.WaitEvent[*callbackv1.CallbackUnscheduled](env, schedule.Stream(id))

	later := request(env, "support", servicetest.Start.Add(3*time.Hour))
	servicetest.WaitEvent[*callbackv1.CallbackScheduled](env, schedule.Stream(later))
	advance(t, env, 3*time.Hour)
	servicetest.WaitEvent[*callbackv1.CallbackDue](env, schedule.Stream(later))
	if got := types(env, schedule.Stream(id)); got != "CallbackScheduled,CallbackUnscheduled" {
		t.Fatalf("cancelled callback: %s", got)
	}
}

func TestOfficeHoursDelayAnASAPRequest(t *testing.T) {
	// servicetest.Start is a Wednesday; this service opens on Saturdays only.
	env, _ := newEnv(t, scheduler.Config{OfficeHours: "weekend=Sat 09:00-12:00 Europe/Paris"})
	id := request(env, "weekend", time.Time{})
	sch := servicetest.WaitEvent[*callbackv1.CallbackScheduled](env, schedule.Stream(id))
	paris, _ := time.LoadLocation("Europe/Paris")
	if want := time.Date(2026, 11, 28, 9, 0, 0, 0, paris); !sch.DueAt.AsTime().Equal(want) {
		t.Fatalf("due at %v, want %v", sch.DueAt.AsTime(), want)
	}
	other := request(env, "support", time.Time{}) // no hours: always open
	servicetest.WaitEvent[*callbackv1.CallbackDue](env, schedule.Stream(other))
	if got := types(env, schedule.Stream(id)); got != "CallbackScheduled" {
		t.Fatalf("weekend callback: %s", got)
	}
}

func TestRestartNeverFiresTwice(t *testing.T) {
	env, first := newEnv(t, scheduler.Config{})
	asap := request(env, "support", time.Time{})
	soon := request(env, "support", servicetest.Start.Add(time.Hour))
	late := request(env, "support", servicetest.Start.Add(3*time.Hour))
	servicetest.WaitEvent[*callbackv1.CallbackDue](env, schedule.Stream(asap))
	servicetest.WaitEvent[*callbackv1.CallbackScheduled](env, schedule.Stream(late))
	advance(t, env, time.Hour)
	servicetest.WaitEvent[*callbackv1.CallbackDue](env, schedule.Stream(soon))
	first.stop()

	second := start(t, env, scheduler.Config{}, false)
	eventually(t, "the late callback pending again", func() bool {
		return metric(t, second.reg, "ringback_callbacks_pending") == 1
	})
	advance(t, env, 2*time.Hour)
	servicetest.WaitEvent[*callbackv1.CallbackDue](env, schedule.Stream(late))
	eventually(t, "none pending", func() bool { return metric(t, second.reg, "ringback_callbacks_pending") == 0 })
	for _, id := range []string{asap, soon, late} {
		if got := types(env, schedule.Stream(id)); got != "CallbackScheduled,CallbackDue" {
			t.Fatalf("callback %s: %s", id, got)
		}
	}
	if got := metric(t, second.reg, "ringback_callbacks_fired_total"); got != 1 {
		t.Fatalf("the second instance fired %v callbacks, want 1", got)
	}
}

// waitSubscribed holds the test until the scheduler reads intake's topic:
// the in-process bus keeps nothing for a group that has not joined yet.
func waitSubscribed(t *testing.T, env *servicetest.Env) {
	t.Helper()
	eventually(t, "scheduler subscribed to intake", func() bool { return env.Bus.Groups(envelope.TopicOf("intake")) > 0 })
}
