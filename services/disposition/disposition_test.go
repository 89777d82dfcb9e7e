package disposition_test

import (
	"flag"
	"net/http"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	dispositionv1 "github.com/ringback/ringback/proto/ringback/disposition/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/disposition"
	"github.com/ringback/ringback/services/disposition/code"
)

// start runs disposition with its flags' defaults.
func start(t *testing.T) *servicetest.Env { return startWith(t, "") }

// startWith runs disposition with the agents file given ("": open).
func startWith(t *testing.T, agentsFile string) *servicetest.Env {
	t.Helper()
	var cfg disposition.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg.AgentsFile = agentsFile
	env := servicetest.New(t)
	svc, err := disposition.New(cfg, disposition.Deps{Store: env.Store, Subscribers: env.Subscribers(),
		Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux})
	if err != nil {
		t.Fatal(err)
	}
	env.Go(svc.Run)
	// The in-process bus drops what nobody reads yet.
	for _, topic := range []string{envelope.TopicOf("router"), envelope.TopicOf("agent")} {
		deadline := time.Now().Add(10 * time.Second)
		for env.Bus.Groups(topic) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("not subscribed to %s", topic)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	env.Relay()
	return env
}

// accept plays the router: an agent accepted interaction iid of callback cb.
func accept(env *servicetest.Env, cb, iid, agent string) {
	env.AppendAs("router-interaction-"+iid, eventstore.Cause{ID: "accept-" + iid + "-" + agent, Correlation: cb},
		&routingv1.OfferAccepted{InteractionId: iid, AgentId: agent, Service: "support"})
}

// done plays agent-session: the agent clicked Done.
func done(env *servicetest.Env, cb, iid, code string) {
	env.AppendAs("agent-interaction-"+iid, eventstore.Cause{ID: "done-" + iid, Correlation: cb},
		&agentv1.InteractionDone{InteractionId: iid, CallbackId: cb, AgentId: "a1", Disposition: code})
}

type problem struct {
	Status int    `json:"status"`
	Field  string `json:"field"`
}

type answer struct {
	InteractionID string `json:"interaction_id"`
	Code          string `json:"code"`
}

// put sets a disposition; the body is read as an answer and as a problem.
func put(env *servicetest.Env, iid string, body any) (int, answer, problem) {
	env.T.Helper()
	var both struct {
		answer
		problem
	}
	res := env.Do(http.MethodPut, "/v1/interactions/"+iid+"/disposition", body, &both)
	return res.StatusCode, both.answer, both.problem
}

func TestCatalogue(t *testing.T) {
	env := start(t)
	var got struct {
		Codes    []code.Code `json:"codes"`
		Required bool        `json:"required"`
	}
	if res := env.Do(http.MethodGet, "/v1/dispositions", nil, &got); res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	if len(got.Codes) != 5 || got.Codes[0] != (code.Code{Code: "resolved", Label: "Resolved"}) ||
		got.Codes[1] != (code.Code{Code: "callback-again", Label: "Callback again"}) || !got.Required {
		t.Fatalf("catalogue %+v", got)
	}
}

func TestSetUntilDone(t *testing.T) {
	env := start(t)
	accept(env, "c1", "i1", "a1")
	opened := servicetest.WaitEvent[*dispositionv1.DispositionOpened](env, code.Stream("i1"))
	if opened.AgentId != "a1" || opened.Service != "support" || opened.CallbackId != "c1" {
		t.Fatalf("opened %v", opened)
	}

	if s, a, _ := put(env, "i1", map[string]string{"code": "callback-again"}); s != 200 || a != (answer{"i1", "callback-again"}) {
		t.Fatalf("put: %d %+v", s, a)
	}
	if s, a, _ := put(env, "i1", map[string]string{"code": "resolved"}); s != 200 || a.Code != "resolved" {
		t.Fatalf("change: %d %+v", s, a)
	}
	if s, _, _ := put(env, "i1", map[string]string{"code": "resolved"}); s != 200 {
		t.Fatalf("same again: %d", s)
	}
	recs, err := env.Store.ReadStream(t.Context(), code.Stream("i1"), 0)
	if err != nil || len(recs) != 3 {
		t.Fatalf("stream: %v, %d events, want opened + 2 sets", err, len(recs))
	}
	// History ties the disposition to its callback by the correlation.
	if c := recs[2].Metadata[eventstore.MetaCorrelation]; c != "c1" {
		t.Fatalf("correlation %q", c)
	}

	bad := []struct {
		name  string
		body  any
		field string
	}{
		{"unknown code", map[string]string{"code": "great"}, "code"},
		{"no code", map[string]string{}, "code"},
		{"code not a string", map[string]any{"code": 3}, "code"},
		{"unknown field", map[string]string{"code": "resolved", "colour": "red"}, "colour"},
	}
	for _, b := range bad {
		if s, _, p := put(env, "i1", b.body); s != 400 || p.Field != b.field {
			t.Errorf("%s: %d %+v", b.name, s, p)
		}
	}
	if n := len(env.Events(code.Stream("i1"))); n != 3 {
		t.Fatalf("bad requests changed the stream: %d events", n)
	}

	done(env, "c1", "i1", "resolved")
	servicetest.WaitEvent[*dispositionv1.DispositionClosed](env, code.Stream("i1"))
	if s, _, _ := put(env, "i1", map[string]string{"code": "wrong-number"}); s != http.StatusConflict {
		t.Fatalf("after done: %d", s)
	}
}

func TestPutWaitsForTheAccept(t *testing.T) {
	env := start(t)
	// The desktop may learn of the accept before we fold it.
	accept(env, "c2", "i2", "a2")
	if s, a, _ := put(env, "i2", map[string]string{"code": "resolved"}); s != 200 || a.Code != "resolved" {
		t.Fatalf("put right after accept: %d %+v", s, a)
	}
	set := servicetest.WaitEvent[*dispositionv1.DispositionSet](env, code.Stream("i2"))
	if set.AgentId != "a2" {
		t.Fatalf("set %v", set)
	}
}

func TestUnknownInteraction(t *testing.T) {
	env := start(t)
	began := time.Now()
	var p problem
	res := env.Do(http.MethodPut, "/v1/interactions/nope/disposition", map[string]string{"code": "resolved"}, &p)
	if res.StatusCode != http.StatusNotFound || p.Status != 404 {
		t.Fatalf("unknown: %d %+v", res.StatusCode, p)
	}
	if time.Since(began) < 2*time.Second {
		t.Fatalf("answered 404 without waiting for a late accept")
	}
	if n := len(env.Events(code.Stream("nope"))); n != 0 {
		t.Fatalf("a 404 wrote %d events", n)
	}
}

func TestDoneBeforeAccept(t *testing.T) {
	env := start(t)
	// Topics are consumed in parallel: Done may be handled first.
	done(env, "c3", "i3", "")
	servicetest.WaitEvent[*dispositionv1.DispositionClosed](env, code.Stream("i3"))
	accept(env, "c3", "i3", "a3")
	servicetest.WaitEvent[*dispositionv1.DispositionOpened](env, code.Stream("i3"))
	if s, _, _ := put(env, "i3", map[string]string{"code": "resolved"}); s != http.StatusConflict {
		t.Fatalf("after done: %d", s)
	}
}
