package agentsession

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

// Call this contact outside the contact's calling window is refused with
// the reason in the agent's words, and nothing is dialled; once the window
// opens, the same click dials.
func TestCallOutsideTheContactsWindowIsRefused(t *testing.T) {
	// The fake clock's 09:00 UTC is 01:00 in Los Angeles, the +1415 contact's zone.
	env := startWith(t, Config{RequireDisposition: true, CommandWait: 5 * time.Second, CallingWindow: "08:00-21:00"})
	var a agentView
	env.Do("POST", "/v1/agents/a1/session", map[string]string{"phone_uri": "sip:a1@127.0.0.1:5070"}, &a)
	env.Do("PUT", "/v1/agents/a1/state", map[string]string{"channel": "webcallback", "state": "READY"}, &a)
	iid := uuid.NewString()
	offer(env, iid, "a1")
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Phase == "offered" })
	var v interactionView
	acceptDone := make(chan *http.Response, 1)
	go func() { acceptDone <- env.Do("POST", "/v1/interactions/"+iid+"/accept", nil, &v) }()
	servicetest.WaitEvent[*agentv1.AcceptRequested](env, "agent-interaction-"+iid)
	env.Append("router-interaction-"+iid, "accepted-"+iid, &routingv1.OfferAccepted{InteractionId: iid, AgentId: "a1", OfferId: iid + ":1"})
	if res := <-acceptDone; res.StatusCode != 200 || v.Status != "Ready to Call" {
		t.Fatalf("accept: %d %+v", res.StatusCode, v)
	}

	var p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	res := env.Do("POST", "/v1/interactions/"+iid+"/call", nil, &p)
	want := "Outside the contact's calling window (08:00–21:00 America/Los_Angeles); next opening 08:00"
	if res.StatusCode != http.StatusConflict || p.Detail != want ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("call at 01:00 the contact's time: %d %q %+v", res.StatusCode, res.Header.Get("Content-Type"), p)
	}
	for _, e := range env.Events("agent-interaction-" + iid) {
		if _, ok := e.(*agentv1.DialRequested); ok {
			t.Fatal("dialled outside the window")
		}
	}
	if env.Get("/v1/interactions/"+iid, &v); v.Status != "Ready to Call" {
		t.Fatalf("after the refusal: %+v", v)
	}

	env.Clock.Advance(7 * time.Hour) // 08:00 in Los Angeles
	if env.Do("POST", "/v1/interactions/"+iid+"/call", nil, &v); v.Status != "Establishing" {
		t.Fatalf("call at 08:00 the contact's time: %+v", v)
	}
	servicetest.WaitEvent[*agentv1.DialRequested](env, "agent-interaction-"+iid)
}
