package agentsession

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/service"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	dispositionv1 "github.com/ringback/ringback/proto/ringback/disposition/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

func start(t *testing.T) *servicetest.Env {
	t.Helper()
	// The fake clock's 09:00 UTC is 01:00 for the +1415 contact: these
	// tests are about other rules, so the calling window is open fully
	// (window_test.go has it closed).
	return startWith(t, Config{RequireDisposition: true, CommandWait: 5 * time.Second, CallingWindow: "00:00-24:00"})
}

func startWith(t *testing.T, cfg Config) *servicetest.Env {
	t.Helper()
	env := servicetest.New(t)
	s, err := New(cfg, Deps{Deps: service.Deps{Store: env.Store,
		Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
	if err != nil {
		t.Fatal(err)
	}
	env.Go(s.Run)
	env.Relay(Topics...)
	return env
}

type problemBody struct {
	Status int    `json:"status"`
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

func offer(env *servicetest.Env, iid, agentID string) {
	env.Append("router-interaction-"+iid, "offer-"+iid, &routingv1.InteractionOffered{InteractionId: iid, CallbackId: "cb-" + iid,
		AgentId: agentID, OfferId: iid + ":1", OfferedAt: timestamppb.New(servicetest.Start),
		ExpiresAt: timestamppb.New(servicetest.Start.Add(15 * time.Second)), QueuedAt: timestamppb.New(servicetest.Start),
		Request: &callbackv1.CallbackRequest{Service: "support", PhoneNumber: "+14155550123", Subject: "Billing",
			CaseData: map[string]string{"order": "A-17"}, RequestedAt: timestamppb.New(servicetest.Start)}})
}

func waitStatus(t *testing.T, env *servicetest.Env, iid string, cond func(interactionView) bool) interactionView {
	t.Helper()
	var v interactionView
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		// A fresh view each time: fields left out (omitempty) must not
		// keep an earlier answer's values.
		v = interactionView{}
		if env.Get("/v1/interactions/"+iid, &v) == 200 && cond(v) {
			return v
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("interaction never reached the expected state; last %+v", v)
	return v
}

func TestAgentHandlesACallbackFromOfferToDone(t *testing.T) {
	env := start(t)
	var a agentView
	if res := env.Do("POST", "/v1/agents/a1/session", map[string]string{"phone_uri": "sip:a1@127.0.0.1:5070"}, &a); res.StatusCode != 200 ||
		a.Channels["webcallback"].State != "NOT_READY" {
		t.Fatalf("login: %d %+v", res.StatusCode, a)
	}
	if env.Do("PUT", "/v1/agents/a1/state", map[string]string{"channel": "webcallback", "state": "READY"}, &a); a.Channels["webcallback"].State != "READY" {
		t.Fatalf("ready: %+v", a)
	}
	iid := uuid.NewString()
	events := openEvents(t, env, "a1")
	offer(env, iid, "a1")
	for name := events.next(t); name != "offer"; name = events.next(t) {
		if name != "state" {
			t.Fatalf("pushed %q before the offer", name)
		}
	}

	var v interactionView
	acceptDone := make(chan *http.Response, 1)
	go func() { acceptDone <- env.Do("POST", "/v1/interactions/"+iid+"/accept", nil, &v) }()
	servicetest.WaitEvent[*agentv1.AcceptRequested](env, "agent-interaction-"+iid)
	env.Append("router-interaction-"+iid, "accepted-"+iid, &routingv1.OfferAccepted{InteractionId: iid, AgentId: "a1", OfferId: iid + ":1"})
	if res := <-acceptDone; res.StatusCode != 200 || v.Status != "Ready to Call" || v.Callback.Subject != "Billing" ||
		v.CaseData["order"] != "A-17" {
		t.Fatalf("accept: %d %+v", res.StatusCode, v)
	}
	waitAgent(t, env, "a1", func(a agentView) bool { return a.Channels["webcallback"].State == "BUSY" })

	// Call this contact: Establishing, then Connected when the gateway says so.
	if env.Do("POST", "/v1/interactions/"+iid+"/call", nil, &v); v.Status != "Establishing" {
		t.Fatalf("call: %+v", v)
	}
	dial := servicetest.WaitEvent[*agentv1.DialRequested](env, "agent-interaction-"+iid)
	if dial.AgentPhoneUri != "sip:a1@127.0.0.1:5070" || dial.PhoneNumber != "+14155550123" {
		t.Fatalf("dial: %+v", dial)
	}
	env.Append("media-call-"+dial.CallId, "conn-"+dial.CallId, &mediav1.CallConnected{CallId: dial.CallId, InteractionId: iid})
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Status == "Connected" })

	var p problemBody
	if res := env.Do("POST", "/v1/interactions/"+iid+"/done", nil, &p); res.StatusCode != http.StatusConflict {
		t.Fatalf("done while connected: %d", res.StatusCode)
	}
	endDone := make(chan *http.Response, 1)
	go func() { endDone <- env.Do("POST", "/v1/interactions/"+iid+"/end-call", nil, &v) }()
	servicetest.WaitEvent[*agentv1.HangupRequested](env, "agent-interaction-"+iid)
	env.Append("media-call-"+dial.CallId, "end-"+dial.CallId, &mediav1.CallEnded{CallId: dial.CallId, InteractionId: iid, Reason: "hangup requested",
		EndReason: mediav1.EndReason_END_REASON_HANGUP_REQUESTED})
	if res := <-endDone; res.StatusCode != 200 || v.Status != "Ready to Call" || v.Reason != "Call ended" {
		t.Fatalf("end call: %d %+v", res.StatusCode, v)
	}

	if res := env.Do("POST", "/v1/interactions/"+iid+"/done", nil, &p); res.StatusCode != http.StatusConflict {
		t.Fatalf("done without disposition: %d", res.StatusCode)
	}
	env.Append("disposition-interaction-"+iid, "disp-"+iid, &dispositionv1.DispositionSet{InteractionId: iid, Code: "resolved"})
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Disposition == "resolved" })
	if res := env.Do("POST", "/v1/interactions/"+iid+"/done", nil, &v); res.StatusCode != 200 || v.Phase != "done" {
		t.Fatalf("done: %d %+v", res.StatusCode, v)
	}
	done := servicetest.WaitEvent[*agentv1.InteractionDone](env, "agent-interaction-"+iid)
	if done.CallbackId != "cb-"+iid || done.Disposition != "resolved" {
		t.Fatalf("done event: %+v", done)
	}
	waitAgent(t, env, "a1", func(a agentView) bool {
		return a.Channels["webcallback"].State == "READY" && len(a.Interactions) == 0
	})
}

func TestFailedCallReturnsToReadyToCallWithTheReason(t *testing.T) {
	for _, c := range []struct {
		outcome mediav1.Outcome
		code    int32
		reason  string
	}{
		{mediav1.Outcome_OUTCOME_BUSY, 486, "Busy"},
		{mediav1.Outcome_OUTCOME_AGENT_UNAVAILABLE, 480, "Your phone did not answer"},
		// Issue 15: the gateway had no registration to ring.
		{mediav1.Outcome_OUTCOME_AGENT_NOT_REGISTERED, 0, "Your phone is not registered"},
	} {
		t.Run(c.outcome.String(), func(t *testing.T) {
			env := start(t)
			env.Do("POST", "/v1/agents/a1/session", map[string]string{"phone_uri": "sip:a1@127.0.0.1:5070"}, nil)
			iid := uuid.NewString()
			offer(env, iid, "a1")
			waitStatus(t, env, iid, func(v interactionView) bool { return v.Phase == "offered" })
			go env.Do("POST", "/v1/interactions/"+iid+"/accept", nil, nil)
			servicetest.WaitEvent[*agentv1.AcceptRequested](env, "agent-interaction-"+iid)
			env.Append("router-interaction-"+iid, "accepted-"+iid, &routingv1.OfferAccepted{InteractionId: iid, AgentId: "a1"})
			waitStatus(t, env, iid, func(v interactionView) bool { return v.Status == "Ready to Call" })
			env.Do("POST", "/v1/interactions/"+iid+"/call", nil, nil)
			dial := servicetest.WaitEvent[*agentv1.DialRequested](env, "agent-interaction-"+iid)
			env.Append("media-call-"+dial.CallId, "failed", &mediav1.DialFailed{CallId: dial.CallId, InteractionId: iid,
				Outcome: c.outcome, SipCode: c.code})
			v := waitStatus(t, env, iid, func(v interactionView) bool { return v.Status == "Ready to Call" && v.Reason != "" })
			if v.Reason != c.reason || v.Attempts != 1 {
				t.Fatalf("after %s: %+v, want reason %q", c.outcome, v, c.reason)
			}
		})
	}
}

func TestCommandsOfAnotherAgentAreForbiddenAndChangeNothing(t *testing.T) {
	env := start(t)
	iid := uuid.NewString()
	offer(env, iid, "a1")
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Phase == "offered" })
	before := env.Stored()
	var p problemBody
	res := env.DoWith("POST", "/v1/interactions/"+iid+"/accept", map[string]string{"X-Ringback-Agent": "a2"}, nil, &p)
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("accept by a2: %d", res.StatusCode)
	}
	if res := env.Do("PUT", "/v1/agents/a1/state", map[string]string{"channel": "fax", "state": "READY"}, &p); res.StatusCode != 409 && p.Field != "channel" {
		t.Fatalf("bad channel: %d %+v", res.StatusCode, p)
	}
	if res := env.Do("POST", "/v1/agents/bad%20id/session", map[string]string{}, &p); res.StatusCode != 400 || p.Field != "agent" {
		t.Fatalf("bad agent id: %d %+v", res.StatusCode, p)
	}
	if res := env.Do("POST", "/v1/agents/a3/session", map[string]string{"phone_uri": "tel:123"}, &p); res.StatusCode != 400 || p.Field != "phone_uri" {
		t.Fatalf("bad phone: %d %+v", res.StatusCode, p)
	}
	if after := env.Stored(); after != before {
		t.Fatalf("refused commands stored %d events", after-before)
	}
}

func waitAgent(t *testing.T, env *servicetest.Env, id string, cond func(agentView) bool) {
	t.Helper()
	var a agentView
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if env.Get("/v1/agents/"+id, &a) == 200 && cond(a) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("agent never reached the expected state; last %+v", a)
}

// sse reads an agent's event stream.
type sse struct {
	events chan [2]string // name, id
	cancel context.CancelFunc
}

func openEvents(t *testing.T, env *servicetest.Env, agentID string) *sse {
	t.Helper()
	s := openEventsFrom(t, env, agentID, "")
	// The snapshot: the agent's state first.
	if n := s.next(t); n != "state" {
		t.Fatalf("snapshot starts with %q", n)
	}
	return s
}

func openEventsFrom(t *testing.T, env *servicetest.Env, agentID, lastEventID string) *sse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", env.Server.URL+"/v1/agents/"+agentID+"/events", nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %v %v", err, res)
	}
	s := &sse{events: make(chan [2]string, 100), cancel: cancel}
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var id string
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				id = v
			}
			if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				s.events <- [2]string{name, id}
			}
		}
	}()
	return s
}

func (s *sse) close() { s.cancel() }

func (s *sse) next(t *testing.T) string {
	t.Helper()
	name, _ := s.nextWithID(t)
	return name
}

func (s *sse) nextWithID(t *testing.T) (string, string) {
	t.Helper()
	select {
	case e := <-s.events:
		return e[0], e[1]
	case <-time.After(10 * time.Second):
		t.Fatal("no event pushed within 10s")
		return "", ""
	}
}

func TestMissedOffersSetTheAgentNotReady(t *testing.T) {
	env := start(t)
	env.Do("POST", "/v1/agents/a1/session", map[string]string{"phone_uri": "sip:a1@127.0.0.1:5070"}, nil)
	env.Do("PUT", "/v1/agents/a1/state", map[string]string{"channel": "webcallback", "state": "READY"}, nil)
	env.Append("router-agent-a1", "missed-1", &routingv1.AgentMissedOffers{AgentId: "a1", Count: 2})
	waitAgent(t, env, "a1", func(a agentView) bool {
		c := a.Channels["webcallback"]
		return c.State == "NOT_READY" && c.Reason == "Missed offer"
	})
	// The agent comes back by going Ready.
	if res := env.Do("PUT", "/v1/agents/a1/state", map[string]string{"channel": "webcallback", "state": "READY"}, nil); res.StatusCode != 200 {
		t.Fatalf("ready again: %d", res.StatusCode)
	}
}
