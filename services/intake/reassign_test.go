package intake

import (
	"net/http"
	"testing"

	"github.com/ringback/ringback/libs/servicetest"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/intake/callback"
)

// TestReassign (issue 14): a supervisor of the callback's service gives it
// to a chosen agent, recorded with who and why; anyone else, a bad body
// or an unknown agent is refused and stores nothing.
func TestReassign(t *testing.T) {
	env, _ := manageEnv(t)
	var cb callbackView
	if res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+33612345678"}, &cb); res.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d", res.StatusCode)
	}
	path := "/v1/callbacks/" + cb.ID + "/reassign"
	stored := env.Stored()
	ok := map[string]any{"agent": "a1", "why": "speaks Basque"}
	for _, c := range []struct {
		name   string
		who    map[string]string
		body   any
		status int
		field  string
	}{
		{"anonymous", nil, ok, http.StatusUnauthorized, "Authorization"},
		{"an agent", servicetest.Bearer("a1"), ok, http.StatusForbidden, "Authorization"},
		{"an API client", servicetest.Bearer("crm"), ok, http.StatusForbidden, "Authorization"},
		{"no agent", servicetest.Bearer("s1"), map[string]any{"why": "x"}, http.StatusBadRequest, "agent"},
		{"an unknown agent", servicetest.Bearer("s1"), map[string]any{"agent": "zz", "why": "x"}, http.StatusBadRequest, "agent"},
		{"no why", servicetest.Bearer("s1"), map[string]any{"agent": "a1", "why": " "}, http.StatusBadRequest, "why"},
	} {
		var p problem
		res := env.DoWith("POST", path, c.who, c.body, &p)
		if res.StatusCode != c.status || p.Field != c.field || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %+v; want %d %q", c.name, res.StatusCode, p, c.status, c.field)
		}
	}
	if n := env.Stored(); n != stored {
		t.Fatalf("refused reassigns stored %d events", n-stored)
	}
	var got callbackView
	if res := env.DoWith("POST", path, servicetest.Bearer("s1"), ok, &got); res.StatusCode != http.StatusOK || got.State != "QUEUED" {
		t.Fatalf("reassign: %d %+v", res.StatusCode, got)
	}
	var e *callbackv1.CallbackRescheduleRequested
	for _, m := range env.Events(callback.Stream(cb.ID)) {
		if r, ok := m.(*callbackv1.CallbackRescheduleRequested); ok {
			e = r
		}
	}
	if e == nil || e.By != "s1" || e.PersonalAgent != "a1" || e.Reason != "reassigned by supervisor s1 to agent a1: speaks Basque" {
		t.Fatalf("event %v", e)
	}
}
