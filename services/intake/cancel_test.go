package intake

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

// TestCancelMeansNotStarted (issue 16): once an agent accepted a callback
// the visitor's cancel answers 409 and stores nothing; an agent who is not
// a supervisor is a visitor here; a supervisor ends it only with a reason,
// and the event says who and why.
func TestCancelMeansNotStarted(t *testing.T) {
	env := servicetest.New(t)
	path := filepath.Join(t.TempDir(), "agents.json")
	if err := os.WriteFile(path, []byte(`{"agents":[{"id":"a1","token":"`+servicetest.Token("a1")+`"},`+
		`{"id":"s1","token":"`+servicetest.Token("s1")+`","supervisor":true}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{RefuseDuplicates: true, AgentsFile: path}, Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
	if err != nil {
		t.Fatal(err)
	}
	env.Go(s.Run)
	env.Relay(Topics...)

	var cb callbackView
	if res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550123"}, &cb); res.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d", res.StatusCode)
	}
	env.AppendAs("router-offer-i1", eventstore.Cause{ID: "accept-1", Correlation: cb.ID},
		&routingv1.OfferAccepted{InteractionId: "i1", AgentId: "a1"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := eventstore.Load(t.Context(), env.Store, "intake-callback-"+cb.ID, aggregate)
		if err != nil {
			t.Fatal(err)
		}
		if l.State.Agent == "a1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("accept not folded")
		}
		time.Sleep(5 * time.Millisecond)
	}

	before := env.Stored()
	// A visitor cancels through the self-service link (self_test.go), which
	// answers 409 once an agent took the callback; a callback id alone is
	// no credential, and an agent cannot end a callback.
	for _, c := range []struct {
		h    map[string]string
		want int
	}{{nil, http.StatusUnauthorized}, {servicetest.Bearer("a1"), http.StatusForbidden}} {
		var p problem
		res := env.DoWith("DELETE", "/v1/callbacks/"+cb.ID, c.h, nil, &p)
		if res.StatusCode != c.want || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("cancel in progress with %v: %d, want %d", c.h, res.StatusCode, c.want)
		}
	}
	var p problem
	if res := env.DoWith("DELETE", "/v1/callbacks/"+cb.ID, servicetest.Bearer("s1"), nil, &p); res.StatusCode != http.StatusBadRequest || p.Field != "reason" {
		t.Fatalf("supervisor without reason: %d %+v", res.StatusCode, p)
	}
	if res := env.DoWith("DELETE", "/v1/callbacks/"+cb.ID+"?reason=a%0D%0Ab", servicetest.Bearer("s1"), nil, &p); res.StatusCode != http.StatusBadRequest || p.Field != "reason" {
		t.Fatalf("supervisor with CRLF reason: %d %+v", res.StatusCode, p)
	}
	if n := env.Stored(); n != before {
		t.Fatalf("refused cancels stored %d events", n-before)
	}
	var got callbackView
	if res := env.DoWith("DELETE", "/v1/callbacks/"+cb.ID+"?reason=caller+asked+on+another+line", servicetest.Bearer("s1"), nil, &got); res.StatusCode != http.StatusOK || got.State != "CANCELLED" {
		t.Fatalf("supervisor end: %d %+v", res.StatusCode, got)
	}
	recs, err := env.Store.ReadStream(t.Context(), "intake-callback-"+cb.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	if !strings.Contains(string(last.Data), "ended by supervisor s1: caller asked on another line") {
		t.Fatalf("last event %s %q", last.Type, last.Data)
	}
}
