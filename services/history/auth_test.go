package history_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
	"github.com/ringback/ringback/services/history"
	"github.com/ringback/ringback/services/history/timeline"
)

func startWithAgents(t *testing.T) *servicetest.Env {
	t.Helper()
	env := servicetest.New(t)
	svc, err := history.New(history.Config{RecentDays: 1, AgentsFile: servicetest.AgentsFile(t, "a1", "a2")},
		history.Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
	if err != nil {
		t.Fatal(err)
	}
	env.Go(svc.Run)
	for _, svcName := range []string{"intake", "scheduler", "router", "agent", "media", "disposition"} {
		eventually(t, "subscribed to "+svcName, func() bool { return env.Bus.Groups(envelope.TopicOf(svcName)) > 0 })
	}
	env.Relay()
	return env
}

// TestPersonalDataIsForItsAgents (issue 16): with agents on, every route of
// history answers 401 without a token and changes nothing; an agent the
// interaction was never offered to gets exactly what an unknown
// interaction or number gets (404); its agent reads and writes.
func TestPersonalDataIsForItsAgents(t *testing.T) {
	env := startWithAgents(t)
	upTo(env, "c1", "i1", "accepted") // offered to and accepted by a1
	eventually(t, "a1 reads the trail", func() bool {
		var got []entry
		res := env.DoWith(http.MethodGet, "/v1/interactions/i1/events", servicetest.Bearer("a1"), nil, &got)
		return res.StatusCode == http.StatusOK && len(got) >= 6
	})
	before := len(env.Events(timeline.Stream("c1")))

	routes := []struct {
		method, path, unknown string
		body                  any
		ok                    int
	}{
		{"GET", "/v1/interactions/i1/events", "/v1/interactions/i9/events", nil, 200},
		{"GET", "/v1/contacts/" + escaped + "/history", "/v1/contacts/%2B14155550999/history", nil, 200},
		{"GET", "/v1/contacts/" + escaped + "/matrix", "/v1/contacts/%2B14155550999/matrix", nil, 200},
		{"POST", "/v1/interactions/i1/notes", "/v1/interactions/i9/notes", map[string]string{"text": "wants a refund"}, 201},
		{"PUT", "/v1/interactions/i1/case-data", "/v1/interactions/i9/case-data", map[string]any{"case_data": map[string]string{"order": "B-2"}}, 200},
	}
	// Anonymous, or with a token nobody has: 401, nothing written.
	for _, rt := range routes {
		for _, h := range []map[string]string{nil, {"Authorization": "Bearer wrong"}} {
			var p problem
			res := env.DoWith(rt.method, rt.path, h, rt.body, &p)
			if res.StatusCode != http.StatusUnauthorized || res.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s %s with %v: %d", rt.method, rt.path, h, res.StatusCode)
			}
		}
	}
	// Another agent: the same answer as an unknown id or number.
	for _, rt := range routes {
		var theirs, none map[string]any
		r1 := env.DoWith(rt.method, rt.path, servicetest.Bearer("a2"), rt.body, &theirs)
		r2 := env.DoWith(rt.method, rt.unknown, servicetest.Bearer("a2"), rt.body, &none)
		delete(theirs, "instance")
		delete(none, "instance")
		if rt.unknown != "" && r1.StatusCode == http.StatusNotFound {
			// The detail names the id asked for: compare the rest.
			delete(theirs, "detail")
			delete(none, "detail")
		}
		a, _ := json.Marshal(theirs)
		b, _ := json.Marshal(none)
		if r1.StatusCode != http.StatusNotFound || r2.StatusCode != http.StatusNotFound || string(a) != string(b) {
			t.Errorf("%s %s as a2: %d %s; unknown: %d %s", rt.method, rt.path, r1.StatusCode, a, r2.StatusCode, b)
		}
	}
	if n := len(env.Events(timeline.Stream("c1"))); n != before {
		t.Fatalf("refused requests changed the history: %d events, want %d", n, before)
	}
	// Its agent: everything.
	for _, rt := range routes {
		if res := env.DoWith(rt.method, rt.path, servicetest.Bearer("a1"), rt.body, nil); res.StatusCode != rt.ok {
			t.Errorf("%s %s as a1: %d, want %d", rt.method, rt.path, res.StatusCode, rt.ok)
		}
	}
}
