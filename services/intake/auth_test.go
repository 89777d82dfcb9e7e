package intake

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

func startWithAgents(t *testing.T) *servicetest.Env {
	t.Helper()
	env := servicetest.New(t)
	cfg := Config{RefuseDuplicates: true, AgentsFile: servicetest.AgentsFile(t, "a1", "a2")}
	s, err := New(cfg, Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
	if err != nil {
		t.Fatal(err)
	}
	env.Go(s.Run)
	env.Relay(Topics...)
	return env
}

// TestReadingACallbackTakesItsAgent (issue 16): with agents on, a callback
// is read only with the token of the agent who accepted it; without a
// token 401, and for another agent the same 404 as an unknown callback.
func TestReadingACallbackTakesItsAgent(t *testing.T) {
	env := startWithAgents(t)
	body := map[string]any{"service": "support", "phone_number": "+14155550123", "contact_name": "Ann",
		"subject": "Billing", "case_data": map[string]string{"order": "A-17"}}
	var cb callbackView
	if res := env.DoWith("POST", "/v1/callbacks", map[string]string{"Idempotency-Key": "k-1"}, body, &cb); res.StatusCode != http.StatusCreated {
		t.Fatalf("anonymous POST: %d", res.StatusCode)
	}
	unknown := "/v1/callbacks/00000000-0000-4000-8000-000000000000"
	path := "/v1/callbacks/" + cb.ID

	for _, h := range []map[string]string{nil, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic YTE6eA=="}} {
		var p problem
		res := env.DoWith("GET", path, h, nil, &p)
		if res.StatusCode != http.StatusUnauthorized || res.Header.Get("Content-Type") != "application/problem+json" ||
			res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET with %v: %d %s %+v", h, res.StatusCode, res.Header.Get("Content-Type"), p)
		}
	}
	// Not accepted by anyone yet: a1 and a2 get what an unknown id gets.
	wantNotFound := func(who string) {
		t.Helper()
		var mine, none map[string]any
		res := env.DoWith("GET", path, servicetest.Bearer(who), nil, &mine)
		res2 := env.DoWith("GET", unknown, servicetest.Bearer(who), nil, &none)
		if res.StatusCode != http.StatusNotFound || res2.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: GET %d, unknown %d; want 404 both", who, res.StatusCode, res2.StatusCode)
		}
		delete(mine, "detail")
		delete(mine, "instance")
		delete(none, "detail")
		delete(none, "instance")
		a, _ := json.Marshal(mine)
		b, _ := json.Marshal(none)
		if string(a) != string(b) {
			t.Fatalf("%s: not yours %s, unknown %s", who, a, b)
		}
	}
	wantNotFound("a1")

	env.AppendAs("router-offer-i1", eventstore.Cause{ID: "accept-1", Correlation: cb.ID},
		&routingv1.OfferAccepted{InteractionId: "i1", AgentId: "a1"})
	deadline := time.Now().Add(10 * time.Second)
	var got callbackView
	for {
		res := env.DoWith("GET", path, servicetest.Bearer("a1"), nil, &got)
		if res.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a1 never read the callback they accepted: %d", res.StatusCode)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got.PhoneNumber != "+14155550123" || got.ContactName != "Ann" || got.State != "IN_PROGRESS" {
		t.Fatalf("a1 reads %+v", got)
	}
	wantNotFound("a2")

	// Replaying the POST with the key, or cancelling, shows nothing personal.
	before := env.Stored()
	var replay map[string]any
	if res := env.DoWith("POST", "/v1/callbacks", map[string]string{"Idempotency-Key": "k-1"}, body, &replay); res.StatusCode != http.StatusOK {
		t.Fatalf("replayed POST: %d", res.StatusCode)
	}
	for _, k := range []string{"phone_number", "contact_name", "subject", "case_data"} {
		if _, ok := replay[k]; ok {
			t.Errorf("replayed POST shows %s to an anonymous caller: %v", k, replay)
		}
	}
	if n := env.Stored(); n != before {
		t.Errorf("refused and replayed requests stored %d events", n-before)
	}
}

// TestForbiddenNumbersAreNotCalledBack (issue 16): emergency, premium and
// service numbers are refused, naming phone_number, and nothing is stored.
func TestForbiddenNumbersAreNotCalledBack(t *testing.T) {
	env := start(t)
	for _, n := range []string{"+1911", "+112", "+999", "+19005550123", "+19115550123"} {
		var p problem
		res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": n}, &p)
		if res.StatusCode != http.StatusBadRequest || p.Field != "phone_number" || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %+v", n, res.StatusCode, p)
		}
	}
	if n := env.Stored(); n != 0 {
		t.Fatalf("refused numbers stored %d events", n)
	}
}
