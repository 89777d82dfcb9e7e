package queue

import (
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func at(sec int) *timestamppb.Timestamp {
	return timestamppb.New(t0.Add(time.Duration(sec) * time.Second))
}

func ready(agent string, sec int) proto.Message {
	return &routingv1.AgentAvailabilityChanged{AgentId: agent, Ready: true, At: at(sec)}
}

func notReady(agent string, sec int) proto.Message {
	return &routingv1.AgentAvailabilityChanged{AgentId: agent, Ready: false, At: at(sec)}
}

func queued(id string, sec int) proto.Message { return queuedIn(id, "support", sec) }

func queuedIn(id, service string, sec int) proto.Message {
	return &routingv1.InteractionQueued{InteractionId: id, CallbackId: "cb-" + id, QueuedAt: at(sec),
		Request: &callbackv1.CallbackRequest{Service: service}}
}

func skilled(agent string, skills map[string]int32) proto.Message {
	return &routingv1.AgentSkillsChanged{AgentId: agent, Skills: skills}
}

func timedOut(id, agent string, n, sec int) proto.Message {
	return &routingv1.OfferTimedOut{InteractionId: id, AgentId: agent, OfferId: id + ":" + string(rune('0'+n)), At: at(sec)}
}

func stopped(agent string, sec int) proto.Message {
	return &routingv1.AgentMissedOffers{AgentId: agent, Count: 2, At: at(sec)}
}

// rules of the tables: billing needs billing at level 3 and english; vip
// needs english and has priority 5; support is not configured.
var rules = Rules{OfferTimeout: 15 * time.Second, AgingStep: 30 * time.Second, MissedOffers: 2,
	Services: map[string]Service{
		"billing": {Skills: map[string]int32{"billing": 3, "english": 1}, OfferTimeout: 30 * time.Second},
		"vip":     {Skills: map[string]int32{"english": 0}, Priority: 5},
		"french":  {Skills: map[string]int32{"french": 1}, Priority: 1},
	}}

func model(events ...proto.Message) *Model {
	m := New(rules)
	for _, e := range events {
		m.Apply(e)
	}
	return m
}

func offered(id, agent string, n, sec int) proto.Message {
	return &routingv1.InteractionOffered{InteractionId: id, AgentId: agent, OfferId: id + ":" + string(rune('0'+n)),
		OfferedAt: at(sec), ExpiresAt: at(sec + 15)}
}

func accepted(id, agent string, sec int) proto.Message {
	return &routingv1.OfferAccepted{InteractionId: id, AgentId: agent, At: at(sec)}
}

func rejected(id, agent string, sec int) proto.Message {
	return &routingv1.OfferRejected{InteractionId: id, AgentId: agent, At: at(sec)}
}

func closed(id string, sec int) proto.Message {
	return &routingv1.InteractionClosed{InteractionId: id, At: at(sec)}
}

func TestNext(t *testing.T) {
	cases := []struct {
		name  string
		given []proto.Message
		now   int
		want  Action // zero: nothing to do
	}{
		{"nobody ready", []proto.Message{queued("i1", 0)}, 1, Action{}},
		{"nothing waiting", []proto.Message{ready("a1", 0)}, 1, Action{}},
		{"ready agent gets it", []proto.Message{ready("a1", 0), queued("i1", 1)}, 2,
			Action{Kind: Offer, Interaction: "i1", Agent: "a1", Attempt: 1}},
		{"oldest interaction first", []proto.Message{queued("i2", 5), queued("i1", 1), ready("a1", 6)}, 7,
			Action{Kind: Offer, Interaction: "i1", Agent: "a1", Attempt: 1}},
		{"longest idle agent first", []proto.Message{ready("a2", 3), ready("a1", 1), queued("i1", 4)}, 5,
			Action{Kind: Offer, Interaction: "i1", Agent: "a1", Attempt: 1}},
		{"not ready agents are skipped", []proto.Message{ready("a1", 1), ready("a2", 2), notReady("a1", 3), queued("i1", 4)}, 5,
			Action{Kind: Offer, Interaction: "i1", Agent: "a2", Attempt: 1}},
		{"an agent holds one offer at a time", []proto.Message{ready("a1", 0), queued("i1", 1), queued("i2", 2),
			offered("i1", "a1", 1, 3)}, 4, Action{}},
		{"an interaction is offered to one agent", []proto.Message{ready("a1", 0), ready("a2", 0), queued("i1", 1),
			offered("i1", "a1", 1, 3)}, 4, Action{}},
		{"the next interaction goes to the next agent", []proto.Message{ready("a1", 0), ready("a2", 1), queued("i1", 1),
			queued("i2", 2), offered("i1", "a1", 1, 3)}, 4,
			Action{Kind: Offer, Interaction: "i2", Agent: "a2", Attempt: 1}},
		{"rejected goes to somebody else", []proto.Message{ready("a1", 0), ready("a2", 1), queued("i1", 2),
			offered("i1", "a1", 1, 3), rejected("i1", "a1", 4)}, 5,
			Action{Kind: Offer, Interaction: "i1", Agent: "a2", Attempt: 2}},
		{"rejected goes back to the rejecter when nobody else is free", []proto.Message{ready("a1", 0), queued("i1", 2),
			offered("i1", "a1", 1, 3), rejected("i1", "a1", 4)}, 5,
			Action{Kind: Offer, Interaction: "i1", Agent: "a1", Attempt: 2}},
		{"offer runs out", []proto.Message{ready("a1", 0), queued("i1", 1), offered("i1", "a1", 1, 2)}, 17,
			Action{Kind: Expire, Interaction: "i1", Agent: "a1", OfferID: "i1:1"}},
		{"offer stands when the agent goes not ready", []proto.Message{ready("a1", 0), ready("a2", 0), queued("i1", 1),
			offered("i1", "a1", 1, 2), notReady("a1", 3)}, 4, Action{}},
		{"accepted agent is busy", []proto.Message{ready("a1", 0), queued("i1", 1), offered("i1", "a1", 1, 2),
			accepted("i1", "a1", 3), queued("i2", 4)}, 5, Action{}},
		{"busy until ready again", []proto.Message{ready("a1", 0), queued("i1", 1), offered("i1", "a1", 1, 2),
			accepted("i1", "a1", 3), queued("i2", 4), notReady("a1", 5), ready("a1", 6)}, 7,
			Action{Kind: Offer, Interaction: "i2", Agent: "a1", Attempt: 1}},
		{"free again when the interaction closes", []proto.Message{ready("a1", 0), queued("i1", 1), offered("i1", "a1", 1, 2),
			accepted("i1", "a1", 3), queued("i2", 4), closed("i1", 5)}, 6,
			Action{Kind: Offer, Interaction: "i2", Agent: "a1", Attempt: 1}},
		{"a rejecter goes to the back of the idle line", []proto.Message{ready("a1", 0), ready("a2", 1), ready("a3", 2),
			queued("i1", 3), offered("i1", "a1", 1, 3), rejected("i1", "a1", 4), offered("i1", "a2", 2, 5),
			accepted("i1", "a2", 6), queued("i2", 7)}, 8, Action{Kind: Offer, Interaction: "i2", Agent: "a3", Attempt: 1}},
		{"closed interactions leave the queue", []proto.Message{queued("i1", 0), closed("i1", 1), ready("a1", 2)}, 3, Action{}},

		// Skills.
		{"an agent without the skills is not offered", []proto.Message{ready("a1", 0), queuedIn("i1", "billing", 1)}, 2, Action{}},
		{"a skill below the level does not qualify", []proto.Message{skilled("a1", map[string]int32{"billing": 2, "english": 5}),
			ready("a1", 0), queuedIn("i1", "billing", 1)}, 2, Action{}},
		{"the longest idle qualified agent", []proto.Message{ready("a0", 0),
			skilled("a1", map[string]int32{"billing": 3, "english": 1}), ready("a1", 1),
			skilled("a2", map[string]int32{"billing": 9, "english": 9}), ready("a2", 2), queuedIn("i1", "billing", 3)}, 4,
			Action{Kind: Offer, Interaction: "i1", Agent: "a1", Attempt: 1}},
		{"skills learned while ready count at once", []proto.Message{ready("a1", 0), queuedIn("i1", "french", 1),
			skilled("a1", map[string]int32{"french": 1})}, 2, Action{Kind: Offer, Interaction: "i1", Agent: "a1", Attempt: 1}},
		{"skills lost while ready count at once", []proto.Message{skilled("a1", map[string]int32{"french": 1}), ready("a1", 0),
			skilled("a1", nil), queuedIn("i1", "french", 1)}, 2, Action{}},
		{"an unconfigured service needs no skills", []proto.Message{skilled("a1", map[string]int32{"french": 1}), ready("a1", 0),
			queuedIn("i1", "sales", 1)}, 2, Action{Kind: Offer, Interaction: "i1", Agent: "a1", Attempt: 1}},
		{"a waiting callback nobody qualifies for does not block the next", []proto.Message{ready("a1", 0),
			queuedIn("i1", "billing", 1), queued("i2", 2)}, 3, Action{Kind: Offer, Interaction: "i2", Agent: "a1", Attempt: 1}},
		{"a rejecter is only re-offered when no other qualified agent is free", []proto.Message{
			skilled("a1", map[string]int32{"english": 1}), ready("a1", 0), ready("a2", 0),
			queuedIn("i1", "vip", 1), offered("i1", "a1", 1, 2), rejected("i1", "a1", 3)}, 4,
			Action{Kind: Offer, Interaction: "i1", Agent: "a1", Attempt: 2}},

		// Priority and aging.
		{"higher priority first", []proto.Message{skilled("a1", map[string]int32{"english": 1, "french": 1}),
			queued("i1", 0), queuedIn("i2", "french", 1), queuedIn("i3", "vip", 2), ready("a1", 3)}, 3,
			Action{Kind: Offer, Interaction: "i3", Agent: "a1", Attempt: 1}},
		{"aging: priority 0 waiting 30s ties priority 1 queued now, and is older", []proto.Message{
			skilled("a1", map[string]int32{"french": 1}), queued("i1", 0), queuedIn("i2", "french", 30), ready("a1", 31)}, 31,
			Action{Kind: Offer, Interaction: "i1", Agent: "a1", Attempt: 1}},
		{"aging: priority 0 waiting 29s is still behind", []proto.Message{
			skilled("a1", map[string]int32{"french": 1}), queued("i1", 1), queuedIn("i2", "french", 30), ready("a1", 31)}, 31,
			Action{Kind: Offer, Interaction: "i2", Agent: "a1", Attempt: 1}},
		{"a callback only specialists take does not hold them from a better-ranked one", []proto.Message{
			skilled("a1", map[string]int32{"english": 1}), ready("a1", 0), ready("a2", 1),
			queued("i1", 2), queuedIn("i2", "vip", 3)}, 4,
			Action{Kind: Offer, Interaction: "i2", Agent: "a1", Attempt: 1}},

		// Missed offers.
		{"one missed offer is not enough", []proto.Message{ready("a1", 0), queued("i1", 1), offered("i1", "a1", 1, 2),
			timedOut("i1", "a1", 1, 17)}, 18, Action{Kind: Offer, Interaction: "i1", Agent: "a1", Attempt: 2}},
		{"two missed offers in a row stop the offers", []proto.Message{ready("a1", 0), queued("i1", 1), offered("i1", "a1", 1, 2),
			timedOut("i1", "a1", 1, 17), offered("i1", "a1", 2, 18), timedOut("i1", "a1", 2, 33)}, 34,
			Action{Kind: StopOffers, Agent: "a1", Missed: []string{"i1:1", "i1:2"}}},
		{"a reject between misses restarts the count", []proto.Message{ready("a1", 0), queued("i1", 1), offered("i1", "a1", 1, 2),
			timedOut("i1", "a1", 1, 17), offered("i1", "a1", 2, 18), rejected("i1", "a1", 19), offered("i1", "a1", 3, 20),
			timedOut("i1", "a1", 3, 35)}, 36, Action{Kind: Offer, Interaction: "i1", Agent: "a1", Attempt: 4}},
		{"stopped agent gets nothing", []proto.Message{ready("a1", 0), queued("i1", 1), offered("i1", "a1", 1, 2),
			timedOut("i1", "a1", 1, 17), offered("i1", "a1", 2, 18), timedOut("i1", "a1", 2, 33), stopped("a1", 34)}, 35, Action{}},
		{"stopped agent is offered again once ready again", []proto.Message{ready("a1", 0), queued("i1", 1), offered("i1", "a1", 1, 2),
			timedOut("i1", "a1", 1, 17), offered("i1", "a1", 2, 18), timedOut("i1", "a1", 2, 33), stopped("a1", 34),
			notReady("a1", 35), ready("a1", 40)}, 41, Action{Kind: Offer, Interaction: "i1", Agent: "a1", Attempt: 3}},
		{"a missing agent's callback goes to another while the stop is recorded", []proto.Message{ready("a1", 0), ready("a2", 50),
			queued("i1", 1), offered("i1", "a1", 1, 2), timedOut("i1", "a1", 1, 17), queued("i2", 18), offered("i2", "a1", 1, 18),
			timedOut("i2", "a1", 1, 33), stopped("a1", 34)}, 51, Action{Kind: Offer, Interaction: "i1", Agent: "a2", Attempt: 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := model(c.given...)
			got, ok := m.Next(t0.Add(time.Duration(c.now) * time.Second))
			if ok != (c.want.Kind != 0) {
				t.Fatalf("got %+v, %v; want %+v", got, ok, c.want)
			}
			got.Service, got.QueuedAt, got.CallbackID, got.Timeout = "", time.Time{}, "", 0
			if ok && !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestStats(t *testing.T) {
	m := New(Rules{OfferTimeout: 15 * time.Second, AgingStep: 30 * time.Second, MissedOffers: 2})
	for _, e := range []proto.Message{ready("a1", 0), ready("a2", 0), notReady("a2", 1), queued("i1", 10), queued("i2", 20),
		queued("i3", 30), offered("i3", "a1", 1, 31)} {
		m.Apply(e)
	}
	got := m.Stats("support", t0.Add(40*time.Second))
	want := Stats{Service: "support", Waiting: 2, OldestWait: 30 * time.Second, Offered: 1, AgentsReady: 1}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if s := m.Stats("sales", t0); s.Waiting != 0 || s.AgentsReady != 1 {
		t.Fatalf("other service: %+v", s)
	}
	if id, ok := m.InteractionOf("cb-i2"); !ok || id != "i2" {
		t.Fatalf("InteractionOf = %q, %v", id, ok)
	}
	if exp, ok := m.NextExpiry(); !ok || !exp.Equal(t0.Add(46*time.Second)) {
		t.Fatalf("NextExpiry = %v, %v", exp, ok)
	}
}

func TestDecideAgent(t *testing.T) {
	skills := map[string]int32{"billing": 3}
	cases := []struct {
		name  string
		given []proto.Message
		when  AgentCommand
		want  proto.Message // nil: nothing
	}{
		{"first ready", nil, SetAvailability{AgentID: "a1", Ready: true, At: t0}, &routingv1.AgentAvailabilityChanged{}},
		{"never seen, not ready", nil, SetAvailability{AgentID: "a1", At: t0}, nil},
		{"ready again is nothing", []proto.Message{ready("a1", 0)}, SetAvailability{AgentID: "a1", Ready: true, At: t0}, nil},
		{"not ready", []proto.Message{ready("a1", 0)}, SetAvailability{AgentID: "a1", At: t0}, &routingv1.AgentAvailabilityChanged{}},
		{"ready after not ready", []proto.Message{ready("a1", 0), notReady("a1", 1)}, SetAvailability{AgentID: "a1", Ready: true, At: t0},
			&routingv1.AgentAvailabilityChanged{}},

		{"first skills", nil, SetSkills{AgentID: "a1", Skills: skills, At: t0}, &routingv1.AgentSkillsChanged{}},
		{"no skills at first is nothing", nil, SetSkills{AgentID: "a1", At: t0}, nil},
		{"same skills is nothing", []proto.Message{skilled("a1", map[string]int32{"billing": 3})}, SetSkills{AgentID: "a1", Skills: skills, At: t0}, nil},
		{"new level", []proto.Message{skilled("a1", map[string]int32{"billing": 2})}, SetSkills{AgentID: "a1", Skills: skills, At: t0},
			&routingv1.AgentSkillsChanged{}},
		{"skills lost", []proto.Message{skilled("a1", skills)}, SetSkills{AgentID: "a1", At: t0}, &routingv1.AgentSkillsChanged{}},

		{"stop offers to a ready agent", []proto.Message{ready("a1", 0)}, StopOffering{AgentID: "a1", OfferIDs: []string{"i1:1", "i2:1"}, At: t0},
			&routingv1.AgentMissedOffers{}},
		{"stop offers to an agent not ready is nothing", []proto.Message{ready("a1", 0), notReady("a1", 1)},
			StopOffering{AgentID: "a1", OfferIDs: []string{"i1:1"}, At: t0}, nil},
		{"stop offers twice is nothing", []proto.Message{ready("a1", 0), stopped("a1", 1)},
			StopOffering{AgentID: "a1", OfferIDs: []string{"i1:1"}, At: t0}, nil},
		{"ready after the stop", []proto.Message{ready("a1", 0), stopped("a1", 1)}, SetAvailability{AgentID: "a1", Ready: true, At: t0},
			&routingv1.AgentAvailabilityChanged{}},
		{"not ready after the stop is nothing", []proto.Message{ready("a1", 0), stopped("a1", 1)}, SetAvailability{AgentID: "a1", At: t0}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s Availability
			for _, e := range c.given {
				s = EvolveAvailability(s, e)
			}
			got := DecideAgent(s, c.when)
			if c.want == nil {
				if len(got) != 0 {
					t.Fatalf("got %v, want nothing", got)
				}
				return
			}
			if len(got) != 1 || got[0].ProtoReflect().Descriptor() != c.want.ProtoReflect().Descriptor() {
				t.Fatalf("got %v, want one %T", got, c.want)
			}
			if m, ok := got[0].(*routingv1.AgentMissedOffers); ok && (m.Count != 2 || len(m.OfferIds) != 2 || m.AgentId != "a1") {
				t.Fatalf("missed = %v", m)
			}
		})
	}
}

func TestStatsCountQualifiedAgents(t *testing.T) {
	m := model(skilled("a1", map[string]int32{"billing": 3, "english": 1}), ready("a1", 0), ready("a2", 0),
		skilled("a3", map[string]int32{"billing": 9, "english": 9}), ready("a3", 0),
		queuedIn("i1", "billing", 10), offered("i1", "a1", 1, 11), queuedIn("i2", "billing", 12))
	got := m.Stats("billing", t0.Add(20*time.Second))
	want := Stats{Service: "billing", Waiting: 1, OldestWait: 8 * time.Second, Offered: 1, AgentsReady: 2, AgentsAvailable: 1}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if got := m.Stats("support", t0); got.AgentsReady != 3 || got.AgentsAvailable != 2 {
		t.Fatalf("support: %+v", got)
	}
	if got := m.Services(); !reflect.DeepEqual(got, []string{"billing", "french", "vip"}) {
		t.Fatalf("services = %v", got)
	}
}

func TestOfferRunsTheServiceTimeout(t *testing.T) {
	m := model(ready("a1", 0), skilled("a1", map[string]int32{"billing": 3, "english": 1}), queuedIn("i1", "billing", 1))
	if a, ok := m.Next(t0.Add(2 * time.Second)); !ok || a.Timeout != 30*time.Second || a.Service != "billing" || a.CallbackID != "cb-i1" {
		t.Fatalf("got %+v", a)
	}
	m = model(ready("a1", 0), queued("i1", 1))
	if a, ok := m.Next(t0.Add(2 * time.Second)); !ok || a.Timeout != 15*time.Second {
		t.Fatalf("got %+v", a)
	}
}

func TestAgingOff(t *testing.T) {
	r := rules
	r.AgingStep = 0
	m := New(r)
	for _, e := range []proto.Message{skilled("a1", map[string]int32{"french": 1}), queued("i1", 0), queuedIn("i2", "french", 3600),
		ready("a1", 3601)} {
		m.Apply(e)
	}
	// Without aging an hour's wait does not beat one level of priority.
	if a, _ := m.Next(t0.Add(3602 * time.Second)); a.Interaction != "i2" {
		t.Fatalf("got %+v, want i2", a)
	}
}

func TestIndexedFirstSkips(t *testing.T) {
	h := indexed[int]{less: func(a, b int) bool { return a < b }, at: func(int, int) {}}
	for _, v := range []int{9, 3, 7, 1, 5, 8, 2, 6, 4} {
		h.Push(v)
	}
	for skip := range 10 {
		got, ok := h.First(func(v int) bool { return v <= skip })
		if want := skip + 1; (want <= 9) != ok || ok && got != want {
			t.Fatalf("first above %d = %d, %v", skip, got, ok)
		}
	}
}
