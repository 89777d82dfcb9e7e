package intake

import (
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

func start(t *testing.T) *servicetest.Env {
	t.Helper()
	env := servicetest.New(t)
	cfg := Config{RefuseDuplicates: true}
	s, err := New(cfg, Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
	if err != nil {
		t.Fatal(err)
	}
	env.Go(s.Run)
	env.Relay(Topics...)
	return env
}

type problem struct {
	Status int    `json:"status"`
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

func TestRequestFollowsTheCallbackToCompleted(t *testing.T) {
	env := start(t)
	var cb callbackView
	res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550123",
		"subject": "Billing", "case_data": map[string]string{"order": "A-17"}}, &cb)
	if res.StatusCode != http.StatusCreated || cb.State != "QUEUED" || res.Header.Get("Location") != "/v1/callbacks/"+cb.ID {
		t.Fatalf("POST: %d %+v %q", res.StatusCode, cb, res.Header.Get("Location"))
	}
	// The other services move it on; intake reports it.
	env.Append("scheduler-callback-"+cb.ID, "s1", &callbackv1.CallbackDue{CallbackId: cb.ID, InteractionId: "i1",
		DueAt: timestamppb.New(servicetest.Start)})
	env.Append("agent-interaction-i1", "a1", &agentv1.InteractionDone{InteractionId: "i1", CallbackId: cb.ID,
		Disposition: "resolved", At: timestamppb.New(servicetest.Start)})
	deadline := time.Now().Add(10 * time.Second)
	for cb.State != "COMPLETED" && time.Now().Before(deadline) {
		env.Do("GET", "/v1/callbacks/"+cb.ID, nil, &cb)
		time.Sleep(5 * time.Millisecond)
	}
	if cb.State != "COMPLETED" || cb.Disposition != "resolved" || cb.InteractionID != "i1" {
		t.Fatalf("callback = %+v", cb)
	}
	// Once completed, the number may ask again.
	if res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550123"}, nil); res.StatusCode != 201 {
		t.Fatalf("second request after completion: %d", res.StatusCode)
	}
}

func TestBadInputNamesTheFieldAndChangesNothing(t *testing.T) {
	env := start(t)
	for _, c := range []struct {
		body  any
		field string
	}{
		{map[string]any{"service": "support", "phone_number": "0612"}, "phone_number"},
		{map[string]any{"service": "support", "phone_number": "+14155550123", "desired_time": "soon"}, "desired_time"},
		{map[string]any{"service": "support", "phone_number": "+14155550123", "colour": "red"}, "colour"},
		{map[string]any{"service": "support", "phone_number": 4155550123}, "phone_number"},
		{map[string]any{"phone_number": "+14155550123"}, "service"},
	} {
		var p problem
		res := env.Do("POST", "/v1/callbacks", c.body, &p)
		if res.StatusCode != 400 || p.Field != c.field || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%v: %d %+v", c.body, res.StatusCode, p)
		}
	}
	if n := env.Stored(); n != 0 {
		t.Fatalf("bad requests stored %d events", n)
	}
}

func TestDuplicateIsRefusedAndIdempotencyKeyReturnsTheSameCallback(t *testing.T) {
	env := start(t)
	body := map[string]any{"service": "support", "phone_number": "+14155550123"}
	var first, again callbackView
	env.DoWith("POST", "/v1/callbacks", map[string]string{"Idempotency-Key": "k-1"}, body, &first)
	res := env.DoWith("POST", "/v1/callbacks", map[string]string{"Idempotency-Key": "k-1"}, body, &again)
	if res.StatusCode != http.StatusOK || again.ID != first.ID {
		t.Fatalf("retry: %d %s vs %s", res.StatusCode, again.ID, first.ID)
	}
	var p problem
	if res := env.Do("POST", "/v1/callbacks", body, &p); res.StatusCode != http.StatusConflict || p.Field != "phone_number" {
		t.Fatalf("duplicate: %d %+v", res.StatusCode, p)
	}
	// Cancelling frees the number.
	if res := env.Do("DELETE", "/v1/callbacks/"+first.ID, nil, &again); res.StatusCode != 200 || again.State != "CANCELLED" {
		t.Fatalf("cancel: %d %+v", res.StatusCode, again)
	}
	if res := env.Do("DELETE", "/v1/callbacks/"+first.ID, nil, &p); res.StatusCode != http.StatusConflict {
		t.Fatalf("cancel twice: %d", res.StatusCode)
	}
	if res := env.Do("POST", "/v1/callbacks", body, nil); res.StatusCode != http.StatusCreated {
		t.Fatalf("after cancel: %d", res.StatusCode)
	}
	if res := env.Do("GET", "/v1/callbacks/not-an-id", nil, &p); res.StatusCode != 404 {
		t.Fatalf("unknown: %d", res.StatusCode)
	}
}

func TestFutureRequestIsScheduled(t *testing.T) {
	env := start(t)
	var cb callbackView
	at := servicetest.Start.Add(2 * time.Hour).Format(time.RFC3339)
	env.Do("POST", "/v1/callbacks", map[string]any{"service": "sales", "phone_number": "+442071234567", "desired_time": at}, &cb)
	if cb.State != "SCHEDULED" || cb.ScheduledFor == nil || cb.ScheduledFor.Format(time.RFC3339) != at {
		t.Fatalf("callback = %+v", cb)
	}
}
