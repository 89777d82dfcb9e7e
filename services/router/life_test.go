package router_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/servicetest"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

// A callback whose time to live ends leaves the queue, and the agent
// holding its offer loses it, with the reason (issue 11).
func TestExpiredCallbackIsWithdrawn(t *testing.T) {
	env := start(t)
	ready(env, "a1")
	due(env, "c1", "i1")
	nthOffer(env, "i1", 1)
	env.Append("scheduler-callback-c1", uuid.NewString(), &callbackv1.CallbackExpired{CallbackId: "c1", InteractionId: "i1",
		At: timestamppb.New(env.Clock.Now()), Reason: "FAIL_EXPIRED: not connected within its time to live of 1h0m0s"})
	if c := servicetest.WaitEvent[*routingv1.InteractionClosed](env, interaction("i1")); !strings.HasPrefix(c.Reason, "FAIL_EXPIRED") {
		t.Fatalf("closed = %v", c)
	}
	waitUntil(env, "empty queue", func() bool { q := getQueue(env); return q.Waiting == 0 && q.Offered == 0 })
}

// A retried callback keeps its first due time: it waits as long as it has
// waited, so it goes before a newer one, and its offer says how many
// attempts came before.
func TestRetryKeepsItsPlaceInTheQueue(t *testing.T) {
	env := start(t)
	first := env.Clock.Now()
	env.Clock.Advance(10 * time.Minute)
	due(env, "c-new", "i-new")
	servicetest.WaitEvent[*routingv1.InteractionQueued](env, interaction("i-new"))
	env.Append("scheduler-callback-c-old", uuid.NewString(), &callbackv1.CallbackDue{CallbackId: "c-old", InteractionId: "i-old",
		Request: &callbackv1.CallbackRequest{Service: "support", PhoneNumber: "+14155550123"}, DueAt: timestamppb.New(env.Clock.Now()),
		Attempts: 2, FirstDueAt: timestamppb.New(first)})
	q := servicetest.WaitEvent[*routingv1.InteractionQueued](env, interaction("i-old"))
	if !q.QueuedAt.AsTime().Equal(first) || q.Attempts != 2 {
		t.Fatalf("queued = %v", q)
	}
	ready(env, "a1")
	if o := nthOffer(env, "i-old", 1); o.AgentId != "a1" || o.Attempts != 2 {
		t.Fatalf("the retried callback is offered first: %v", o)
	}
}

// dueKept is a due callback kept for an agent: personal, or preferred.
func dueKept(env *servicetest.Env, callbackID, interactionID, personal, preferred string) {
	env.T.Helper()
	env.Append("scheduler-callback-"+callbackID, uuid.NewString(), &callbackv1.CallbackDue{CallbackId: callbackID,
		InteractionId: interactionID, DueAt: timestamppb.New(env.Clock.Now()), PersonalAgent: personal,
		Request: &callbackv1.CallbackRequest{Service: "support", PhoneNumber: "+14155550123", PreferredAgent: preferred}})
}

// A personal callback goes to its agent, even when another has been idle
// longer; a preferred agent who is not Ready within the wait loses it to
// any agent, and the interaction's history says why.
func TestPersonalAndPreferredAgents(t *testing.T) {
	env := start(t)
	ready(env, "a2") // idle the longest
	ready(env, "a1")
	dueKept(env, "c1", "i1", "a1", "")
	o1 := nthOffer(env, "i1", 1)
	if o1.AgentId != "a1" {
		t.Fatalf("personal callback offered to %s", o1.AgentId)
	}
	accept(env, o1)
	q := servicetest.WaitEvent[*routingv1.InteractionQueued](env, interaction("i1"))
	if q.ReservedFor != "a1" || q.ReservedWhy != "personal" || !q.ReservedUntil.AsTime().Equal(q.QueuedAt.AsTime().Add(30*time.Minute)) {
		t.Fatalf("queued = %v", q)
	}

	dueKept(env, "c2", "i2", "", "a3")
	servicetest.WaitEvent[*routingv1.InteractionQueued](env, interaction("i2"))
	time.Sleep(50 * time.Millisecond)
	if n := len(offers(env, "i2")); n != 0 {
		t.Fatalf("kept for a3, offered %d times meanwhile", n)
	}
	env.Clock.Advance(2 * time.Minute)
	r := servicetest.WaitEvent[*routingv1.InteractionReleased](env, interaction("i2"))
	if r.AgentId != "a3" || !strings.Contains(r.Reason, "preferred agent a3 was not offered it within 2m") {
		t.Fatalf("released = %v", r)
	}
	if o := nthOffer(env, "i2", 1); o.AgentId != "a2" {
		t.Fatalf("released callback offered to %s", o.AgentId)
	}
}
