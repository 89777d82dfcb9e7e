package agentsession

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

// acceptedInteraction logs a1 in, offers them an interaction and accepts it.
func acceptedInteraction(t *testing.T, env *servicetest.Env) string {
	t.Helper()
	env.Do("POST", "/v1/agents/a1/session", map[string]string{"phone_uri": "sip:a1@127.0.0.1:5070"}, nil)
	iid := uuid.NewString()
	offer(env, iid, "a1")
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Phase == "offered" })
	go env.Do("POST", "/v1/interactions/"+iid+"/accept", nil, nil)
	servicetest.WaitEvent[*agentv1.AcceptRequested](env, "agent-interaction-"+iid)
	env.Append("router-interaction-"+iid, "accepted-"+iid, &routingv1.OfferAccepted{InteractionId: iid, AgentId: "a1"})
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Status == "Ready to Call" })
	return iid
}

// busyOnce dials and has the trunk answer busy.
func busyOnce(t *testing.T, env *servicetest.Env, iid string, n int) {
	t.Helper()
	if res := env.Do("POST", "/v1/interactions/"+iid+"/call", nil, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("call %d: %d", n, res.StatusCode)
	}
	var dial *agentv1.DialRequested
	deadline := time.Now().Add(10 * time.Second)
	for dial == nil && time.Now().Before(deadline) {
		for _, e := range env.Events("agent-interaction-" + iid) {
			if d, ok := e.(*agentv1.DialRequested); ok {
				dial = d // the latest
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	env.Append("media-call-"+dial.CallId, "busy-"+dial.CallId, &mediav1.DialFailed{CallId: dial.CallId, InteractionId: iid,
		Outcome: mediav1.Outcome_OUTCOME_BUSY, SipCode: 486})
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Attempts == n && v.Reason == "Busy" })
}

// By default a busy contact is the scheduler's to try again: the
// interaction ends on its own, saying which outcome and attempt, and the
// agent goes on as after Done.
func TestBusyByDefaultEndsTheInteractionForTheScheduler(t *testing.T) {
	env := start(t)
	iid := acceptedInteraction(t, env)
	busyOnce(t, env, iid, 1)
	done := servicetest.WaitEvent[*agentv1.InteractionDone](env, "agent-interaction-"+iid)
	if !done.Rescheduled || done.RetryOutcome != "busy" || done.Attempts != 1 || done.Result != "" {
		t.Fatalf("done: %v", done)
	}
	waitAgent(t, env, "a1", func(a agentView) bool { return a.Channels["webcallback"].State == "READY" && len(a.Interactions) == 0 })
}

// With "then: agent" the agent redials, within the attempts; the last
// used, Call this contact is refused and Done completes the callback as
// FAIL_BUSY.
func TestAgentRedialsWithinTheAttempts(t *testing.T) {
	set, err := serviceconf.Parse([]byte(`services: {support: {retry: {busy: {attempts: 2, then: agent}}}}`), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	env := startWith(t, Config{CommandWait: 5 * time.Second, CallingWindow: "00:00-24:00", WindowGiven: true, ServiceSet: set})
	iid := acceptedInteraction(t, env)
	busyOnce(t, env, iid, 1)
	busyOnce(t, env, iid, 2)
	before := env.Stored()
	var p problemBody
	if res := env.Do("POST", "/v1/interactions/"+iid+"/call", nil, &p); res.StatusCode != http.StatusConflict {
		t.Fatalf("third call: %d", res.StatusCode)
	}
	if env.Stored() != before {
		t.Fatal("a refused call stored events")
	}
	if res := env.Do("POST", "/v1/interactions/"+iid+"/done", nil, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("done: %d", res.StatusCode)
	}
	done := servicetest.WaitEvent[*agentv1.InteractionDone](env, "agent-interaction-"+iid)
	if done.Rescheduled || done.Result != "FAIL_BUSY" || done.Attempts != 2 {
		t.Fatalf("done: %v", done)
	}
}

// An offer withdrawn because the callback expired says so.
func TestExpiredOfferIsWithdrawnWithItsReason(t *testing.T) {
	env := start(t)
	env.Do("POST", "/v1/agents/a1/session", map[string]string{"phone_uri": "sip:a1@127.0.0.1:5070"}, nil)
	iid := uuid.NewString()
	offer(env, iid, "a1")
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Phase == "offered" })
	env.Append("router-interaction-"+iid, "closed-"+iid, &routingv1.InteractionClosed{InteractionId: iid,
		Reason: "FAIL_EXPIRED: not connected within its time to live of 24h0m0s"})
	w := servicetest.WaitEvent[*agentv1.InteractionWithdrawn](env, "agent-interaction-"+iid)
	if !strings.HasPrefix(w.Reason, "Expired: not connected") {
		t.Fatalf("withdrawn: %q", w.Reason)
	}
}
