package router_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

// The services of these tests: billing needs billing at level 3 and english,
// has priority 5 and 30-second offers; support is not configured.
var routingFlags = []string{"--router.services", "billing=skills:billing>=3,english;priority:5;offer-timeout:30s"}

// login is agent-session's login with the agent's skills; it waits until
// the router recorded them.
func login(env *servicetest.Env, agent string, skills map[string]int32) {
	env.T.Helper()
	n := countAvailability(env, agent)
	env.Append("agent-session-"+agent, uuid.NewString(), &agentv1.AgentLoggedIn{AgentId: agent, PhoneUri: "sip:" + agent + "@demo",
		Skills: skills, At: timestamppb.New(env.Clock.Now())})
	waitUntil(env, "router records the skills of "+agent, func() bool { return countAvailability(env, agent) > n })
}

func dueFor(env *servicetest.Env, callbackID, interactionID, service string) {
	env.T.Helper()
	env.Append("scheduler-callback-"+callbackID, uuid.NewString(), &callbackv1.CallbackDue{CallbackId: callbackID,
		InteractionId: interactionID, DueAt: timestamppb.New(env.Clock.Now()),
		Request: &callbackv1.CallbackRequest{Service: service, PhoneNumber: "+14155550123"}})
}

func TestSkillsDecideWhoIsOffered(t *testing.T) {
	env := startWith(t, routingFlags)
	login(env, "a1", map[string]int32{"billing": 2, "english": 9}) // below the level billing needs
	ready(env, "a1")
	login(env, "a2", map[string]int32{"billing": 3, "english": 1})
	ready(env, "a2")
	skills := servicetest.WaitEvent[*routingv1.AgentSkillsChanged](env, "router-agent-a2")
	if skills.Skills["billing"] != 3 || skills.Skills["english"] != 1 {
		t.Fatalf("recorded skills = %v", skills.Skills)
	}

	// a1 is idle longer but lacks the skill level; a2 gets it, for 30s.
	dueFor(env, "c1", "i1", "billing")
	o := nthOffer(env, "i1", 1)
	if o.AgentId != "a2" {
		t.Fatalf("billing offered to %s, want a2", o.AgentId)
	}
	if d := o.ExpiresAt.AsTime().Sub(o.OfferedAt.AsTime()); d != 30*time.Second {
		t.Fatalf("billing offer runs %s, want 30s", d)
	}
	// A service that is not configured needs no skills and runs the default 15s.
	dueFor(env, "c2", "i2", "support")
	o2 := nthOffer(env, "i2", 1)
	if o2.AgentId != "a1" || o2.ExpiresAt.AsTime().Sub(o2.OfferedAt.AsTime()) != 15*time.Second {
		t.Fatalf("support offer = %v", o2)
	}

	var q queueJSON
	env.Do(http.MethodGet, "/v1/queues/billing", nil, &q)
	if q.AgentsReady != 1 || q.Offered != 1 {
		t.Fatalf("billing queue = %+v, want 1 ready agent with the skills and 1 offered", q)
	}
}

func TestHigherPriorityIsOfferedFirst(t *testing.T) {
	env := startWith(t, routingFlags)
	dueFor(env, "c1", "i1", "support")
	servicetest.WaitEvent[*routingv1.InteractionQueued](env, interaction("i1"))
	env.Clock.Advance(time.Minute) // support waited 60s: aging makes it priority 2, billing has 5
	dueFor(env, "c2", "i2", "billing")
	servicetest.WaitEvent[*routingv1.InteractionQueued](env, interaction("i2"))

	login(env, "a1", map[string]int32{"billing": 5, "english": 5})
	ready(env, "a1")
	if o := nthOffer(env, "i2", 1); o.AgentId != "a1" {
		t.Fatalf("i2 offered to %s", o.AgentId)
	}
	if n := len(offers(env, "i1")); n != 0 {
		t.Fatalf("lower-priority i1 offered %d times while a1 holds i2", n)
	}
}

func TestMissedOffersStopOffersUntilReadyAgain(t *testing.T) {
	env := start(t) // default: 2 missed offers in a row
	ready(env, "a1")
	dueFor(env, "c1", "i1", "support")

	for n := 1; n <= 2; n++ {
		o := nthOffer(env, "i1", n)
		if o.AgentId != "a1" {
			t.Fatalf("offer %d to %s", n, o.AgentId)
		}
		waitUntil(env, "offer timer", func() bool { return env.Clock.Waiters() > 0 })
		env.Clock.Advance(16 * time.Second)
		waitUntil(env, "time out", func() bool { return countType(env, interaction("i1"), "OfferTimedOut") == n })
	}
	missed := servicetest.WaitEvent[*routingv1.AgentMissedOffers](env, "router-agent-a1")
	if missed.AgentId != "a1" || missed.Count != 2 || len(missed.OfferIds) != 2 || missed.OfferIds[1] != "i1:2" {
		t.Fatalf("missed = %v", missed)
	}
	// The router offers a1 nothing more, even though agent-session has not
	// set them Not Ready yet, and a new agent gets the callback.
	ready(env, "a2")
	if o := nthOffer(env, "i1", 3); o.AgentId != "a2" {
		t.Fatalf("third offer to %s, want a2", o.AgentId)
	}
	accept(env, offers(env, "i1")[2])
	servicetest.WaitEvent[*routingv1.OfferAccepted](env, interaction("i1"))
	dueFor(env, "c2", "i2", "support")
	servicetest.WaitEvent[*routingv1.InteractionQueued](env, interaction("i2"))
	env.Clock.Advance(time.Second)
	time.Sleep(50 * time.Millisecond)
	if n := len(offers(env, "i2")); n != 0 {
		t.Fatalf("i2 offered %d times while a1 stopped and a2 works", n)
	}

	// agent-session sets a1 Not Ready "Missed offer"; a1 comes back READY.
	// The event as stored before channel and state were enums: still read.
	env.Append("agent-session-a1", uuid.NewString(), &agentv1.AgentStateChanged{AgentId: "a1", LegacyChannel: "webcallback",
		LegacyState: "NOT_READY", Reason: "Missed offer", At: timestamppb.New(env.Clock.Now())})
	ready(env, "a1")
	if o := nthOffer(env, "i2", 1); o.AgentId != "a1" {
		t.Fatalf("i2 offered to %s, want a1 ready again", o.AgentId)
	}
	wantTypes(t, env.Events("router-agent-a1"), "AgentAvailabilityChanged", "AgentMissedOffers", "AgentAvailabilityChanged")
}

func TestAQueueCountsOnlyQualifiedAgents(t *testing.T) {
	env := startWith(t, routingFlags)
	login(env, "a1", map[string]int32{"billing": 4, "english": 2})
	ready(env, "a1")
	ready(env, "a2") // no skills
	var all struct{ Queues []queueJSON }
	env.Do(http.MethodGet, "/v1/queues", nil, &all)
	// billing is configured, so it is listed before anything was queued in it.
	if len(all.Queues) != 1 || all.Queues[0].Service != "billing" || all.Queues[0].AgentsReady != 1 {
		t.Fatalf("queues = %+v", all.Queues)
	}
	if q := getQueue(env); q.AgentsReady != 2 {
		t.Fatalf("support (no skills needed) = %+v, want both agents", q)
	}
}

func countType(env *servicetest.Env, stream, typ string) int {
	n := 0
	for _, ty := range types(env.Events(stream)) {
		if ty == typ {
			n++
		}
	}
	return n
}
