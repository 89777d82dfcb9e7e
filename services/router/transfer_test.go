package router_test

import (
	"testing"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

// TestRoutingAfterATransferToAnAgent (issue 15): a1 accepted i1, then
// transferred the call, and with it the interaction, to a2. What
// agent-session tells the router then (a2 Busy, a1 After Call Work then
// Ready) keeps routing right: the next callback goes to a1, never to a2
// while they handle i1, and a2's Done closes i1.
func TestRoutingAfterATransferToAnAgent(t *testing.T) {
	env := start(t)
	ready(env, "a1")
	due(env, "c1", "i1")
	accept(env, nthOffer(env, "i1", 1))
	servicetest.WaitEvent[*routingv1.OfferAccepted](env, interaction("i1"))
	agentState(env, "a1", "BUSY")

	// a2 was Ready, then rung for the transfer: Busy, and stays Busy with i1.
	ready(env, "a2")
	n := countAvailability(env, "a2")
	agentState(env, "a2", "BUSY")
	waitUntil(env, "router learns a2 is busy", func() bool { return countAvailability(env, "a2") > n })
	env.Append("agent-interaction-i1", uuid.NewString(), &agentv1.InteractionTransferred{InteractionId: "i1", CallId: "k1",
		FromAgentId: "a1", ToAgentId: "a2", At: timestamppb.New(env.Clock.Now())})
	agentState(env, "a1", "AFTER_CALL_WORK")
	ready(env, "a1")

	due(env, "c2", "i2")
	if o := nthOffer(env, "i2", 1); o.AgentId != "a1" {
		t.Fatalf("the next callback offered to %s, want a1 (a2 handles i1)", o.AgentId)
	}
	env.Append("agent-interaction-i1", uuid.NewString(), &agentv1.InteractionDone{InteractionId: "i1", CallbackId: "c1",
		AgentId: "a2", At: timestamppb.New(env.Clock.Now())})
	if c := servicetest.WaitEvent[*routingv1.InteractionClosed](env, interaction("i1")); c.Reason != "done" {
		t.Fatalf("closed = %v", c)
	}
	// a2 done with i1 and Ready: they take the next (a1 holds i2's offer).
	agentState(env, "a2", "AFTER_CALL_WORK")
	ready(env, "a2")
	due(env, "c3", "i3")
	if o := nthOffer(env, "i3", 1); o.AgentId != "a2" {
		t.Fatalf("i3 offered to %s, want a2", o.AgentId)
	}
}
