package agentsession

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

// The visitor cancels as the agent accepts: intake, not yet told of the
// accept, cancels and tells them "we will not call you", and the router
// withdraws only offers no agent took. The agent's Call this contact is
// refused then, with why, and nothing is dialled; before, the contact who
// had cancelled was called.
func TestACallbackCancelledAsTheAgentTookItIsNotDialled(t *testing.T) {
	env := start(t)
	env.Do("POST", "/v1/agents/a1/session", map[string]string{"phone_uri": "sip:a1@127.0.0.1:5070"}, nil)
	env.Do("PUT", "/v1/agents/a1/state", map[string]string{"channel": "webcallback", "state": "READY"}, nil)
	iid := uuid.NewString()
	offer(env, iid, "a1")
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Phase == "offered" })
	accepted := make(chan *http.Response, 1)
	go func() { accepted <- env.Do("POST", "/v1/interactions/"+iid+"/accept", nil, nil) }()
	servicetest.WaitEvent[*agentv1.AcceptRequested](env, "agent-interaction-"+iid)
	env.Append("router-interaction-"+iid, "accepted-"+iid, &routingv1.OfferAccepted{InteractionId: iid, AgentId: "a1", OfferId: iid + ":1"})
	if res := <-accepted; res.StatusCode != http.StatusOK {
		t.Fatalf("accept: %d", res.StatusCode)
	}

	env.Append("intake-callback-cb-"+iid, "cancel-"+iid, &callbackv1.CallbackCancelled{CallbackId: "cb-" + iid,
		At: timestamppb.New(servicetest.Start), Reason: "cancelled by the visitor through their link"})
	// The desktop is told at once, not when Call this contact is refused.
	waitStatus(t, env, iid, func(v interactionView) bool {
		return v.CallbackCancelled && v.CancelReason == "cancelled by the visitor through their link"
	})
	var p problemBody
	if res := env.Do("POST", "/v1/interactions/"+iid+"/call", nil, &p); res.StatusCode != http.StatusConflict ||
		!strings.Contains(p.Detail, "the contact cancelled this callback") {
		t.Fatalf("call: %d %+v", res.StatusCode, p)
	}
	time.Sleep(50 * time.Millisecond)
	for _, e := range env.Events("agent-interaction-" + iid) {
		if _, ok := e.(*agentv1.DialRequested); ok {
			t.Fatal("the contact who cancelled was dialled")
		}
	}
	if v := waitStatus(t, env, iid, func(interactionView) bool { return true }); v.Status != "Ready to Call" {
		t.Fatalf("after the refusal: %+v", v)
	}
}

// A cancel stored before the interaction it crossed (the visitor cancelled
// as the router offered) still marks it; an interaction of another
// callback is not marked, and a cancel's mark goes with its interaction.
func TestAnInteractionLearnsItsCallbackWasCancelledBeforeIt(t *testing.T) {
	env := start(t)
	env.Do("POST", "/v1/agents/a1/session", map[string]string{"phone_uri": "sip:a1@127.0.0.1:5070"}, nil)
	env.Do("PUT", "/v1/agents/a1/state", map[string]string{"channel": "webcallback", "state": "READY"}, nil)
	iid, other := uuid.NewString(), uuid.NewString()
	env.Append("intake-callback-cb-"+iid, "cancel-"+iid, &callbackv1.CallbackCancelled{CallbackId: "cb-" + iid,
		At: timestamppb.New(servicetest.Start), Reason: "ended by supervisor s1: duplicate"})
	offer(env, iid, "a1")
	offer(env, other, "a1")
	waitStatus(t, env, iid, func(v interactionView) bool {
		return v.Phase == "offered" && v.CallbackCancelled && v.CancelReason == "ended by supervisor s1: duplicate"
	})
	if v := waitStatus(t, env, other, func(v interactionView) bool { return v.Phase == "offered" }); v.CallbackCancelled {
		t.Fatalf("another callback's interaction is marked cancelled: %+v", v)
	}
}
