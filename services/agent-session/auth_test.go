package agentsession

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/service"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

const agentsJSON = `{"agents": [
  {"id": "a1", "token": "tok-a1", "skills": {"billing": 5}},
  {"id": "a2", "token_sha256": "0d6a03c6a3c9bdb0e7d5b2a0a7f8ee1e8d8bb1ad1d50d3a2e2a6c1e3f1f4b9aa"},
  {"id": "auto", "token": "tok-auto", "auto_answer": {"after": "10s", "can_reject": false}}
]}`

func startWithAgents(t *testing.T) *servicetest.Env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agents.json")
	if err := os.WriteFile(path, []byte(agentsJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	env := servicetest.New(t)
	s, err := New(Config{AgentsFile: path, RequireDisposition: true, CommandWait: 5 * time.Second}, Deps{Deps: service.Deps{Store: env.Store,
		Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
	if err != nil {
		t.Fatal(err)
	}
	env.Go(s.Run)
	env.Relay(Topics...)
	return env
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func TestTokensDecideWhoActs(t *testing.T) {
	env := startWithAgents(t)
	var p problemBody
	if res := env.Do("POST", "/v1/agents/a1/session", map[string]string{}, &p); res.StatusCode != http.StatusUnauthorized ||
		res.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d", res.StatusCode)
	}
	if res := env.DoWith("POST", "/v1/agents/a1/session", bearer("wrong"), map[string]string{}, &p); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad token: %d", res.StatusCode)
	}
	if res := env.DoWith("POST", "/v1/agents/a2/session", bearer("tok-a1"), map[string]string{}, &p); res.StatusCode != http.StatusForbidden {
		t.Fatalf("a1 logging in a2: %d", res.StatusCode)
	}
	if res := env.DoWith("POST", "/v1/agents/a1/session", bearer("tok-a1"), map[string]string{"phone_uri": "sip:a1@127.0.0.1:5070"}, nil); res.StatusCode != 200 {
		t.Fatalf("login: %d", res.StatusCode)
	}
	in := servicetest.WaitEvent[*agentv1.AgentLoggedIn](env, "agent-session-a1")
	if in.Skills["billing"] != 5 {
		t.Fatalf("skills not carried to the router: %+v", in.Skills)
	}

	// An interaction offered to a1: a2's token can neither see nor act on it.
	iid := uuid.NewString()
	offer(env, iid, "a1")
	waitStatusAs(t, env, iid, "tok-a1")
	before := env.Stored()
	// For another agent it does not exist: the answer of an unknown id.
	unknown := uuid.NewString()
	for _, rt := range []struct{ method, suffix string }{{"GET", ""}, {"POST", "/accept"}, {"POST", "/reject"},
		{"POST", "/call"}, {"POST", "/done"}, {"POST", "/consult"}, {"POST", "/consult/cancel"}} {
		var theirs, none map[string]any
		body := map[string]string{"phone_number": "+14155550100"}
		r1 := env.DoWith(rt.method, "/v1/interactions/"+iid+rt.suffix, bearer("tok-auto"), body, &theirs)
		r2 := env.DoWith(rt.method, "/v1/interactions/"+unknown+rt.suffix, bearer("tok-auto"), body, &none)
		for _, m := range []map[string]any{theirs, none} {
			delete(m, "instance")
			delete(m, "detail")
		}
		a, _ := json.Marshal(theirs)
		b, _ := json.Marshal(none)
		if r1.StatusCode != http.StatusNotFound || r2.StatusCode != http.StatusNotFound || string(a) != string(b) {
			t.Fatalf("another agent %s %s: %d %s; unknown: %d %s", rt.method, rt.suffix, r1.StatusCode, a, r2.StatusCode, b)
		}
		// Without a token: 401 before anything else.
		if res := env.Do(rt.method, "/v1/interactions/"+iid+rt.suffix, body, &p); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("anonymous %s %s: %d", rt.method, rt.suffix, res.StatusCode)
		}
	}
	if res := env.DoWith("GET", "/v1/agents/a1/events?access_token=tok-auto", nil, nil, nil); res.StatusCode != http.StatusForbidden {
		t.Fatalf("another agent's stream: %d", res.StatusCode)
	}
	if after := env.Stored(); after != before {
		t.Fatalf("refused requests stored %d events", after-before)
	}
}

func waitStatusAs(t *testing.T, env *servicetest.Env, iid, tok string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if res := env.DoWith("GET", "/v1/interactions/"+iid, bearer(tok), nil, nil); res.StatusCode == 200 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("interaction %s never visible", iid)
}

func TestAutoAnswerAcceptsWhenTheCountdownEnds(t *testing.T) {
	env := startWithAgents(t)
	env.DoWith("POST", "/v1/agents/auto/session", bearer("tok-auto"), map[string]string{"phone_uri": "sip:auto@127.0.0.1:5070"}, nil)
	iid := uuid.NewString()
	offer(env, iid, "auto")
	var v interactionView
	deadline := time.Now().Add(10 * time.Second)
	for v.AutoAnswer == nil && time.Now().Before(deadline) {
		var raw json.RawMessage
		if env.DoWith("GET", "/v1/interactions/"+iid, bearer("tok-auto"), nil, &raw).StatusCode == 200 {
			_ = json.Unmarshal(raw, &v)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if v.AutoAnswer == nil || !v.AutoAnswer.Equal(servicetest.Start.Add(10*time.Second)) || v.CanReject {
		t.Fatalf("preview: %+v", v)
	}
	var p problemBody
	if res := env.DoWith("POST", "/v1/interactions/"+iid+"/reject", bearer("tok-auto"), nil, &p); res.StatusCode != http.StatusConflict {
		t.Fatalf("reject where not allowed: %d", res.StatusCode)
	}
	for env.Clock.Waiters() == 0 {
		time.Sleep(time.Millisecond)
	}
	env.Clock.Advance(10 * time.Second)
	req := servicetest.WaitEvent[*agentv1.AcceptRequested](env, "agent-interaction-"+iid)
	if req.AgentId != "auto" {
		t.Fatalf("accepted as %q", req.AgentId)
	}
}

func TestReconnectWithLastEventIDMissesNothing(t *testing.T) {
	env := start(t)
	env.Do("POST", "/v1/agents/a1/session", map[string]string{"phone_uri": "sip:a1@127.0.0.1:5070"}, nil)
	first := openEventsFrom(t, env, "a1", "")
	first.next(t) // snapshot
	iid := uuid.NewString()
	offer(env, iid, "a1")
	var lastID string
	for {
		name, id := first.nextWithID(t)
		lastID = id
		if name == "offer" {
			break
		}
	}
	first.close()
	// While disconnected: the offer times out and another one comes.
	env.Append("router-interaction-"+iid, "timeout-"+iid, &routingv1.OfferTimedOut{InteractionId: iid, AgentId: "a1", OfferId: iid + ":1"})
	// The bus delivers different streams concurrently: the withdrawal is
	// stored first only if the next offer waits for it.
	servicetest.WaitEvent[*agentv1.InteractionWithdrawn](env, "agent-interaction-"+iid)
	iid2 := uuid.NewString()
	offer(env, iid2, "a1")
	servicetest.WaitEvent[*agentv1.InteractionPresented](env, "agent-interaction-"+iid2)

	again := openEventsFrom(t, env, "a1", lastID)
	sawWithdrawn, sawOffer := false, false
	for !sawOffer {
		name, _ := again.nextWithID(t)
		switch name {
		case "interaction":
			sawWithdrawn = true
		case "offer":
			sawOffer = true
		}
	}
	if !sawWithdrawn {
		t.Fatal("the withdrawal that happened while disconnected was not replayed before the new offer")
	}
}

// TestPhoneURIMustBeAPhoneOfTheCenter (issue 16): an agent's phone is not a
// forbidden number, an outside host, or a URI with headers.
func TestPhoneURIMustBeAPhoneOfTheCenter(t *testing.T) {
	env := startWithAgents(t)
	before := env.Stored()
	for _, uri := range []string{
		"sip:a1@127.0.0.1:5070?X-Injected=1",
		"sip:+19005550123@127.0.0.1:5060",
		"sip:+1911@10.0.0.1",
		"sip:a1@198.51.100.7:5060",
		"sip:a1@sip.example.com",
	} {
		var p problemBody
		res := env.DoWith("POST", "/v1/agents/a1/session", bearer("tok-a1"), map[string]string{"phone_uri": uri}, &p)
		if res.StatusCode != http.StatusBadRequest || p.Field != "phone_uri" {
			t.Errorf("%s: %d %+v", uri, res.StatusCode, p)
		}
	}
	if after := env.Stored(); after != before {
		t.Fatalf("refused logins stored %d events", after-before)
	}
	if res := env.DoWith("POST", "/v1/agents/a1/session", bearer("tok-a1"), map[string]string{"phone_uri": "sip:a1@10.0.0.7:5060;transport=udp"}, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("a phone on the center's network: %d", res.StatusCode)
	}
}
