package intake

import (
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

func waitView(t *testing.T, env *servicetest.Env, id string, cond func(callbackView) bool) callbackView {
	t.Helper()
	var cb callbackView
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		cb = callbackView{}
		if env.Get("/v1/callbacks/"+id, &cb) == http.StatusOK && cond(cb) {
			return cb
		}
	}
	t.Fatalf("callback never reached the state wanted; last %+v", cb)
	return cb
}

// The bug of issue 11: an ASAP callback the scheduler holds until the
// office opens is SCHEDULED, with the time, not QUEUED.
func TestASAPHeldByOfficeHoursIsScheduled(t *testing.T) {
	env := start(t)
	var cb callbackView
	if res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550123"}, &cb); res.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d", res.StatusCode)
	}
	morning := servicetest.Start.Add(20 * time.Hour)
	env.Append("scheduler-callback-"+cb.ID, "s1", &callbackv1.CallbackScheduled{CallbackId: cb.ID, DueAt: timestamppb.New(morning),
		MovedByWindow: &callbackv1.WindowMove{Reason: "moved to 08:00 America/Los_Angeles: outside the calling window 08:00–21:00"}})
	got := waitView(t, env, cb.ID, func(v callbackView) bool { return v.State == "SCHEDULED" })
	if got.ScheduledFor == nil || !got.ScheduledFor.Equal(morning) || len(got.Moves) != 1 {
		t.Fatalf("held: %+v", got)
	}
	// When it falls due it is QUEUED again, with its interaction.
	env.Append("scheduler-callback-"+cb.ID, "s2", &callbackv1.CallbackDue{CallbackId: cb.ID, InteractionId: "i1", DueAt: timestamppb.New(morning)})
	waitView(t, env, cb.ID, func(v callbackView) bool { return v.State == "QUEUED" && v.InteractionID == "i1" })
}

// Retries show their attempts and why the due time moved; the last
// completes the callback with its reason, as does an expiry.
func TestRetriesAndExpiryAreShown(t *testing.T) {
	env := start(t)
	var a, b callbackView
	env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550123"}, &a)
	env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550124"}, &b)
	at := timestamppb.New(servicetest.Start)
	env.Append("scheduler-callback-"+a.ID, "d1", &callbackv1.CallbackDue{CallbackId: a.ID, InteractionId: "i1", DueAt: at})
	env.Append("agent-interaction-i1", "done1", &agentv1.InteractionDone{InteractionId: "i1", CallbackId: a.ID, Rescheduled: true,
		RetryOutcome: "busy", Attempts: 1, At: at})
	env.Append("scheduler-callback-"+a.ID, "r1", &callbackv1.CallbackRescheduled{CallbackId: a.ID,
		DueAt: timestamppb.New(servicetest.Start.Add(5 * time.Minute)), Reason: "busy: attempt 2 of 2 after 5m0s",
		Retry: &callbackv1.Retry{Outcome: "busy", Attempt: 2, Max: 2}})
	v := waitView(t, env, a.ID, func(v callbackView) bool { return v.State == "SCHEDULED" && len(v.Moves) == 1 })
	if v.Attempts != 1 || v.Moves[0] != "busy: attempt 2 of 2 after 5m0s" {
		t.Fatalf("retry: %+v", v)
	}
	env.Append("scheduler-callback-"+a.ID, "d2", &callbackv1.CallbackDue{CallbackId: a.ID, InteractionId: "i2", DueAt: at, Attempts: 1})
	// The topics are consumed concurrently: i2 is known before its Done, as
	// it is in life, where an offer and a call come between.
	waitView(t, env, a.ID, func(v callbackView) bool { return v.InteractionID == "i2" })
	env.Append("agent-interaction-i2", "done2", &agentv1.InteractionDone{InteractionId: "i2", CallbackId: a.ID,
		RetryOutcome: "busy", Result: "FAIL_BUSY", Attempts: 2, At: at})
	v = waitView(t, env, a.ID, func(v callbackView) bool { return v.State == "COMPLETED" })
	if v.Reason != "FAIL_BUSY" || v.Attempts != 2 {
		t.Fatalf("last attempt: %+v", v)
	}
	env.Append("scheduler-callback-"+b.ID, "x1", &callbackv1.CallbackExpired{CallbackId: b.ID, At: at,
		Reason: "FAIL_EXPIRED: not connected within its time to live of 1h0m0s"})
	v = waitView(t, env, b.ID, func(v callbackView) bool { return v.State == "COMPLETED" })
	if v.Reason != "FAIL_EXPIRED" {
		t.Fatalf("expired: %+v", v)
	}
	// Expired, its number may ask again.
	if res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550124"}, nil); res.StatusCode != 201 {
		t.Fatalf("after expiry: %d", res.StatusCode)
	}
}
