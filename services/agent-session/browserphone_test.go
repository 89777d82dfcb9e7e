package agentsession

import (
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// TestBrowserPhone (issue 15): an agent logs in with "this browser" as
// their phone; the call is placed to webrtc:<agent>; while the gateway
// rings the browser, the interaction view says where to answer, and once
// the call connects it says so no more.
func TestBrowserPhone(t *testing.T) {
	env := start(t)
	before := env.Stored()
	var p problemBody
	if res := env.Do("POST", "/v1/agents/a1/session", map[string]string{"phone_uri": "webrtc:a2"}, &p); res.StatusCode != http.StatusBadRequest ||
		p.Field != "phone_uri" {
		t.Fatalf("another agent's browser: %d %+v", res.StatusCode, p)
	}
	if after := env.Stored(); after != before {
		t.Fatalf("the refused login stored %d events", after-before)
	}
	var a agentView
	if res := env.Do("POST", "/v1/agents/a1/session", map[string]string{"phone_uri": "webrtc:"}, &a); res.StatusCode != 200 ||
		a.PhoneURI != "webrtc:a1" {
		t.Fatalf("login with the browser: %d %+v", res.StatusCode, a)
	}
	iid := uuid.NewString()
	offer(env, iid, "a1")
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Phase == "offered" })
	go env.Do("POST", "/v1/interactions/"+iid+"/accept", nil, nil)
	servicetest.WaitEvent[*agentv1.AcceptRequested](env, interaction.Stream(iid))
	env.Append("router-interaction-"+iid, "accepted-"+iid, &routingv1.OfferAccepted{InteractionId: iid, AgentId: "a1"})
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Status == "Ready to Call" })
	env.Do("POST", "/v1/interactions/"+iid+"/call", nil, nil)
	dial := servicetest.WaitEvent[*agentv1.DialRequested](env, interaction.Stream(iid))
	if dial.AgentPhoneUri != "webrtc:a1" {
		t.Fatalf("dialled the agent at %q, want webrtc:a1", dial.AgentPhoneUri)
	}
	// A SIP phone's ringing says nothing to the page.
	gateway(env, dial.CallId, &mediav1.AgentRinging{CallId: dial.CallId, InteractionId: iid})
	gateway(env, dial.CallId, &mediav1.AgentRinging{CallId: dial.CallId, InteractionId: iid, Browser: true, BrowserUrl: "https://center.example/media/gw-1"})
	v := waitStatus(t, env, iid, func(v interactionView) bool { return v.BrowserRing != nil })
	if v.BrowserRing.CallID != dial.CallId || v.BrowserRing.URL != "https://center.example/media/gw-1" {
		t.Fatalf("browser_ring %+v, want call %s at gw-1", v.BrowserRing, dial.CallId)
	}
	if n := countOf[*agentv1.BrowserRinging](env, iid); n != 1 {
		t.Errorf("%d BrowserRinging events, want 1", n)
	}
	gateway(env, dial.CallId, &mediav1.CallConnected{CallId: dial.CallId, InteractionId: iid})
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Status == "Connected" && v.BrowserRing == nil })
}

func countOf[T any](env *servicetest.Env, iid string) int {
	n := 0
	for _, e := range env.Events(interaction.Stream(iid)) {
		if _, ok := e.(T); ok {
			n++
		}
	}
	return n
}
