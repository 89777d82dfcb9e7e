package intake

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/availability"
	"github.com/ringback/ringback/libs/consistency"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/libs/servicetest"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/intake/callback"
)

// manageEnv is intake with an agent (a1), a supervisor of support (s1),
// API clients of support (crm) and of sales (shop), and a support service
// that refuses full slots (one place per half hour) and books a week ahead.
func manageEnv(t *testing.T) (*servicetest.Env, *Service) {
	t.Helper()
	set, err := serviceconf.Parse([]byte(`
services:
  support:
    office_hours: {zone: Europe/Paris, open: ["Mon-Fri 08:00-20:00"]}
    calling_window: "00:00-24:00"
    capacity: {bucket: 30m, per_bucket: 1, when_full: refuse}
    book_ahead: 7d
  sales: {}
`), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "agents.json")
	if err := os.WriteFile(path, []byte(`{"agents":[{"id":"a1","token":"`+servicetest.Token("a1")+`"},`+
		`{"id":"s1","token":"`+servicetest.Token("s1")+`","supervisor":true,"services":["support"]}],`+
		`"clients":[{"id":"crm","key":"`+servicetest.Token("crm")+`","services":["support"]},`+
		`{"id":"shop","key":"`+servicetest.Token("shop")+`","services":["sales"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := servicetest.New(t)
	s, err := New(Config{RefuseDuplicates: true, AgentsFile: path, ServiceSet: set}, Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
	if err != nil {
		t.Fatal(err)
	}
	env.Go(s.Run)
	env.Relay(Topics...)
	return env, s
}

// TestRescheduleByID: PUT and PATCH move a callback for the clients and
// supervisors of its service; a bad, full or unreachable time, the wrong
// caller or a callback past moving are refused with a problem and store
// nothing.
func TestRescheduleByID(t *testing.T) {
	env, _ := manageEnv(t)
	var cb callbackView
	if res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+33612345678"}, &cb); res.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d", res.StatusCode)
	}
	path := "/v1/callbacks/" + cb.ID
	paris, _ := time.LoadLocation("Europe/Paris")
	// servicetest.Start is Wed 25 Nov 10:00 in Paris; 14:00 is full.
	env.Append(availability.Stream("support", time.Date(2026, 11, 25, 14, 0, 0, 0, paris)), "take-14",
		&callbackv1.SlotTaken{CallbackId: "other", Take: 1})

	stored := env.Stored()
	type refusal struct {
		problem
		Slots []availability.SlotView `json:"slots"`
	}
	for _, c := range []struct {
		name, method string
		who          map[string]string
		body         any
		status       int
		field        string
	}{
		{"anonymous", "PUT", nil, map[string]any{"desired_time": "2026-11-25T15:00:00+01:00"}, http.StatusUnauthorized, "Authorization"},
		{"an agent", "PUT", servicetest.Bearer("a1"), map[string]any{"desired_time": "2026-11-25T15:00:00+01:00"}, http.StatusForbidden, "Authorization"},
		{"a client of another service", "PATCH", servicetest.Bearer("shop"), map[string]any{"desired_time": "2026-11-25T15:00:00+01:00"}, http.StatusNotFound, ""},
		{"no time", "PUT", servicetest.Bearer("crm"), map[string]any{}, http.StatusBadRequest, "desired_time"},
		{"not a time", "PUT", servicetest.Bearer("crm"), map[string]any{"desired_time": "tomorrow"}, http.StatusBadRequest, "desired_time"},
		{"in the past", "PATCH", servicetest.Bearer("crm"), map[string]any{"desired_time": "2026-11-25T08:00:00+01:00"}, http.StatusBadRequest, "desired_time"},
		{"beyond book_ahead", "PUT", servicetest.Bearer("crm"), map[string]any{"desired_time": "2026-12-03T10:00:00+01:00"}, http.StatusBadRequest, "desired_time"},
		{"an unknown field", "PATCH", servicetest.Bearer("crm"), map[string]any{"desired_time": "2026-11-25T15:00:00+01:00", "phone_number": "+33600000000"}, http.StatusBadRequest, "phone_number"},
		{"a full slot", "PUT", servicetest.Bearer("crm"), map[string]any{"desired_time": "2026-11-25T14:10:00+01:00"}, http.StatusConflict, "desired_time"},
	} {
		var p refusal
		res := env.DoWith(c.method, path, c.who, c.body, &p)
		if res.StatusCode != c.status || p.Field != c.field || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %q %+v; want %d %q", c.name, res.StatusCode, res.Header.Get("Content-Type"), p, c.status, c.field)
		}
		if c.status == http.StatusConflict && len(p.Slots) == 0 {
			t.Errorf("%s: no slots offered", c.name)
		}
	}
	if res := env.DoWith("PUT", "/v1/callbacks/00000000-0000-4000-8000-000000000000", servicetest.Bearer("crm"),
		map[string]any{"desired_time": "2026-11-25T15:00:00+01:00"}, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown callback: %d", res.StatusCode)
	}
	if n := env.Stored(); n != stored {
		t.Fatalf("refused reschedules stored %d events", n-stored)
	}

	wish := time.Date(2026, 11, 25, 15, 0, 0, 0, paris)
	for _, c := range []struct {
		method, who string
		stored      int
	}{{"PUT", "crm", 1}, {"PATCH", "crm", 0}, {"PATCH", "s1", 0}} {
		before := env.Stored()
		var got callbackView
		res := env.DoWith(c.method, path, servicetest.Bearer(c.who), map[string]any{"desired_time": wish.Format(time.RFC3339)}, &got)
		if res.StatusCode != http.StatusOK || (res.Header.Get(consistency.Header) == "") != (c.stored == 0) || got.State != "SCHEDULED" || !got.DesiredTime.Equal(wish) || !got.ScheduledFor.Equal(wish) ||
			got.PhoneNumber != "+33612345678" {
			t.Fatalf("%s by %s: %d %+v", c.method, c.who, res.StatusCode, got)
		}
		if n := env.Stored() - before; n != c.stored {
			t.Fatalf("%s by %s stored %d events, want %d (the same time again is nothing new)", c.method, c.who, n, c.stored)
		}
	}
	var e *callbackv1.CallbackRescheduleRequested
	for _, m := range env.Events(callback.Stream(cb.ID)) {
		if r, ok := m.(*callbackv1.CallbackRescheduleRequested); ok {
			e = r
		}
	}
	if e == nil || e.By != "crm" || !e.DesiredTime.AsTime().Equal(wish) || e.Reason != "rescheduled by the API client crm" {
		t.Fatalf("event %v", e)
	}
	// A supervisor moves it again, to another slot: recorded as theirs.
	var got callbackView
	if res := env.DoWith("PATCH", path, servicetest.Bearer("s1"), map[string]any{"desired_time": "2026-11-25T16:00:00+01:00"}, &got); res.StatusCode != http.StatusOK ||
		got.DesiredTime.Format(time.RFC3339) != "2026-11-25T15:00:00Z" {
		t.Fatalf("supervisor: %d %+v", res.StatusCode, got)
	}

	// Once an agent took it, it is theirs: 409, nothing stored.
	env.AppendAs("router-offer-i1", eventstore.Cause{ID: "accept-1", Correlation: cb.ID},
		&routingv1.OfferAccepted{InteractionId: "i1", AgentId: "a1"})
	waitFor(t, env, cb.ID, func(st callback.State) bool { return st.Agent == "a1" })
	stored = env.Stored()
	var p problem
	if res := env.DoWith("PUT", path, servicetest.Bearer("crm"), map[string]any{"desired_time": "2026-11-25T17:00:00+01:00"}, &p); res.StatusCode != http.StatusConflict ||
		!strings.Contains(p.Detail, "handled by an agent") {
		t.Fatalf("in progress: %d %+v", res.StatusCode, p)
	}
	if n := env.Stored(); n != stored {
		t.Fatalf("refused reschedule stored %d events", n-stored)
	}
}

func waitFor(t *testing.T, env *servicetest.Env, id string, cond func(callback.State) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		l, err := eventstore.Load(t.Context(), env.Store, callback.Stream(id), aggregate)
		if err != nil {
			t.Fatal(err)
		}
		if cond(l.State) {
			return
		}
	}
	t.Fatal("not folded in time")
}

// TestManageMethods: the exported methods other front doors call answer
// errors that map both to the domain's and to the API's problem.
func TestManageMethods(t *testing.T) {
	env, s := manageEnv(t)
	var cb callbackView
	if res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+33612345678"}, &cb); res.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d", res.StatusCode)
	}
	ctx := t.Context()
	var p *httpx.Problem
	if _, err := s.Callback(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, callback.ErrNotFound) || !errors.As(err, &p) || p.Status != 404 {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := s.Callback(ctx, "not-an-id"); !errors.Is(err, callback.ErrNotFound) {
		t.Fatalf("not an id: %v", err)
	}
	wish := env.Clock.Now().Add(5 * time.Hour)
	st, err := s.RescheduleCallback(ctx, cb.ID, wish, "", "rescheduled by the visitor")
	if err != nil || !st.Desired.Equal(wish) || st.Status != callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED {
		t.Fatalf("reschedule: %v %+v", err, st)
	}
	if st, err := s.Callback(ctx, cb.ID); err != nil || !st.Desired.Equal(wish) {
		t.Fatalf("read back: %v %+v", err, st)
	}
	if _, err := s.RescheduleCallback(ctx, cb.ID, env.Clock.Now().Add(-time.Hour), "", ""); !errors.As(err, &p) || p.Field != "desired_time" {
		t.Fatalf("past: %v", err)
	}
	if _, err := s.CancelCallback(ctx, cb.ID, callback.Cancel{At: env.Clock.Now(), Reason: "cancelled by the visitor"}); err != nil {
		t.Fatal(err)
	}
	st, err = s.RescheduleCallback(ctx, cb.ID, wish.Add(time.Hour), "", "")
	if !errors.Is(err, callback.ErrFinal) || !errors.As(err, &p) || p.Status != http.StatusConflict || p.Detail != "the callback is already cancelled" {
		t.Fatalf("after cancel: %v", err)
	}
	if _, err := s.CancelCallback(ctx, cb.ID, callback.Cancel{At: env.Clock.Now(), Reason: "again"}); !errors.Is(err, callback.ErrFinal) {
		t.Fatalf("cancel twice: %v", err)
	}
	// Its number is free again: a new request for it is admitted.
	if res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+33612345678"}, nil); res.StatusCode != http.StatusCreated {
		t.Fatalf("after cancel, POST: %d", res.StatusCode)
	}
}
