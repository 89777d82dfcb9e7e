package queue

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/router/offer"
)

// world plays the router around a Model: what the model decides is written
// through the real deciders (offer.Decide, DecideAgent) and every resulting
// event is folded into the model, into the naive oracle, and into the
// world's own record of the streams, against which the invariants are
// checked.
type world struct {
	rules   Rules
	now     time.Time
	m       *Model
	n       *naive
	streams map[string]offer.State // router-interaction streams
	agents  map[string]Availability
	holding map[string]string // agent -> accepted interaction they still work on
	misses  map[string]int    // offers missed in a row
	ids     int
}

var propRules = Rules{OfferTimeout: 15 * time.Second, AgingStep: 10 * time.Second, MissedOffers: 2,
	Services: map[string]Service{
		"billing": {Skills: map[string]int32{"billing": 3, "english": 1}, Priority: 2, OfferTimeout: 20 * time.Second},
		"vip":     {Skills: map[string]int32{"english": 2}, Priority: 5},
		"french":  {Skills: map[string]int32{"french": 1}},
	}}

var (
	propAgents   = []string{"a1", "a2", "a3", "a4", "a5"}
	propServices = []string{"support", "billing", "vip", "french"}
	propSkills   = []string{"billing", "english", "french"}
)

func newWorld() *world {
	return &world{rules: propRules, now: t0, m: New(propRules), n: newNaive(propRules),
		streams: map[string]offer.State{}, agents: map[string]Availability{}, holding: map[string]string{},
		misses: map[string]int{}}
}

// emit folds events into everything.
func (w *world) emit(t *rapid.T, events ...proto.Message) {
	for _, e := range events {
		w.m.Apply(e)
		w.n.Apply(e)
		switch e := e.(type) {
		case *routingv1.AgentAvailabilityChanged:
			if e.Ready && !w.agents[e.AgentId].Ready {
				delete(w.holding, e.AgentId)
				delete(w.misses, e.AgentId)
			}
		case *routingv1.AgentMissedOffers:
			delete(w.misses, e.AgentId)
		case *routingv1.InteractionOffered:
			for id, s := range w.streams {
				if s.Status == offer.Offered && s.Offer.Agent == e.AgentId {
					t.Fatalf("%s offered to %s, who holds the offer of %s", e.InteractionId, e.AgentId, id)
				}
			}
		case *routingv1.OfferAccepted:
			w.holding[e.AgentId] = e.InteractionId
			delete(w.misses, e.AgentId)
		case *routingv1.OfferRejected:
			delete(w.misses, e.AgentId)
		case *routingv1.OfferTimedOut:
			w.misses[e.AgentId]++
		case *routingv1.InteractionClosed:
			if s := w.streams[e.InteractionId]; w.holding[s.Offer.Agent] == e.InteractionId {
				delete(w.holding, s.Offer.Agent)
			}
		}
		if id := interactionOf(e); id != "" {
			w.streams[id] = offer.Evolve(w.streams[id], e)
		} else if ag := agentOf(e); ag != "" {
			w.agents[ag] = EvolveAvailability(w.agents[ag], e)
		}
	}
}

func interactionOf(e proto.Message) string {
	if x, ok := e.(interface{ GetInteractionId() string }); ok {
		return x.GetInteractionId()
	}
	return ""
}

func agentOf(e proto.Message) string {
	if x, ok := e.(interface{ GetAgentId() string }); ok {
		return x.GetAgentId()
	}
	return ""
}

// qualified says whether agent may take interaction by the world's record.
func (w *world) qualified(agent, interaction string) bool {
	svc := w.streams[interaction].Request.GetService()
	return qualifies(w.agents[agent].Skills, requirements(w.rules.Services[svc].Skills))
}

// free says whether agent could take an offer by the world's record.
func (w *world) free(agent string) bool {
	if !w.agents[agent].Ready || w.holding[agent] != "" || w.misses[agent] >= w.rules.MissedOffers {
		return false
	}
	for _, s := range w.streams {
		if s.Status == offer.Offered && s.Offer.Agent == agent {
			return false
		}
	}
	return true
}

// check holds an action decided on the world as it is (taken: the agents
// of the actions decided before it in the same batch) to the invariants.
func (w *world) check(t *rapid.T, a Action, taken map[string]bool) {
	s := w.streams[a.Interaction]
	switch a.Kind {
	case Offer:
		if s.Status != offer.Waiting {
			t.Fatalf("offer of %s, which is %s (offered to %s)", a.Interaction, s.Status, s.Offer.Agent)
		}
		if !w.free(a.Agent) || taken[a.Agent] || !w.qualified(a.Agent, a.Interaction) {
			t.Fatalf("offer of %s (%s) to %s: ready %v, free %v, holding %q, missed %d, skills %v",
				a.Interaction, s.Request.GetService(), a.Agent, w.agents[a.Agent].Ready, w.free(a.Agent),
				w.holding[a.Agent], w.misses[a.Agent], w.agents[a.Agent].Skills)
		}
		if s.HasPassed(a.Agent) {
			for _, other := range propAgents {
				if other != a.Agent && !taken[other] && w.free(other) && w.qualified(other, a.Interaction) && !s.HasPassed(other) {
					t.Fatalf("%s offered again to %s, who passed on it, while %s is free and qualified", a.Interaction, a.Agent, other)
				}
			}
		}
		if want := w.rules.Service(s.Request.GetService()).OfferTimeout; a.Timeout != want {
			t.Fatalf("offer runs %s, want %s", a.Timeout, want)
		}
	case Expire:
		if s.Status != offer.Offered || s.Offer.ID != a.OfferID || w.now.Before(s.Offer.ExpiresAt) {
			t.Fatalf("expire %s of %s: %+v at %s", a.OfferID, a.Interaction, s, w.now)
		}
	case StopOffers:
		if w.misses[a.Agent] < w.rules.MissedOffers || !w.agents[a.Agent].Ready {
			t.Fatalf("stop offers to %s, who missed %d and is ready %v", a.Agent, w.misses[a.Agent], w.agents[a.Agent].Ready)
		}
	default:
		t.Fatalf("unknown action %+v", a)
	}
}

// do writes an action the way the dispatcher does.
func (w *world) do(t *rapid.T, a Action) {
	var (
		events []proto.Message
		err    error
	)
	switch a.Kind {
	case Offer:
		events, err = offer.Decide(w.streams[a.Interaction], offer.Make{Agent: a.Agent, At: w.now, Timeout: a.Timeout})
	case Expire:
		events, err = offer.Decide(w.streams[a.Interaction], offer.Expire{OfferID: a.OfferID, At: w.now})
	case StopOffers:
		events = DecideAgent(w.agents[a.Agent], StopOffering{AgentID: a.Agent, OfferIDs: a.Missed, At: w.now})
	}
	if err != nil {
		t.Fatalf("%+v: %v", a, err)
	}
	if len(events) == 0 {
		t.Fatalf("%+v wrote nothing", a)
	}
	w.emit(t, events...)
}

func (w *world) pick(t *rapid.T, label string, status offer.Status) (string, offer.State, bool) {
	var ids []string
	for id, s := range w.streams {
		if s.Status == status {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return "", offer.State{}, false
	}
	slices.Sort(ids)
	id := rapid.SampledFrom(ids).Draw(t, label)
	return id, w.streams[id], true
}

func (w *world) setAgent(t *rapid.T, agent string, cmd AgentCommand) {
	w.emit(t, DecideAgent(w.agents[agent], cmd)...)
}

func TestModelProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newWorld()
		actions := map[string]func(*rapid.T) bool{
			"arrive": func(t *rapid.T) bool {
				w.ids++
				id := fmt.Sprintf("i%d", w.ids)
				svc := rapid.SampledFrom(propServices).Draw(t, "service")
				events, err := offer.Decide(offer.State{}, offer.Queue{InteractionID: id, CallbackID: "cb-" + id,
					Request: &callbackv1.CallbackRequest{Service: svc}, At: w.now})
				if err != nil {
					t.Fatal(err)
				}
				w.emit(t, events...)
				return true
			},
			"login": func(t *rapid.T) bool {
				agent := rapid.SampledFrom(propAgents).Draw(t, "agent")
				skills := map[string]int32{}
				for _, sk := range propSkills {
					if l := rapid.IntRange(0, 4).Draw(t, sk); l > 0 {
						skills[sk] = int32(l)
					}
				}
				w.setAgent(t, agent, SetSkills{AgentID: agent, Skills: skills, At: w.now})
				return true
			},
			"ready": func(t *rapid.T) bool {
				agent := rapid.SampledFrom(propAgents).Draw(t, "agent")
				w.setAgent(t, agent, SetAvailability{AgentID: agent, Ready: true, At: w.now})
				return true
			},
			"not ready or logout": func(t *rapid.T) bool {
				agent := rapid.SampledFrom(propAgents).Draw(t, "agent")
				w.setAgent(t, agent, SetAvailability{AgentID: agent, Ready: false, At: w.now})
				return true
			},
			"dispatch": func(t *rapid.T) bool {
				a, ok := w.m.Next(w.now)
				na, nok := w.n.Next(w.now)
				if ok != nok || !sameAction(a, na) {
					t.Fatalf("indexed model decided %+v, %v; naive scan %+v, %v", a, ok, na, nok)
				}
				if !ok {
					return false
				}
				w.check(t, a, nil)
				w.do(t, a)
				return true
			},
			"dispatch batch": func(t *rapid.T) bool {
				var (
					taken Taken
					batch []Action
				)
				agents := map[string]bool{}
				for range rapid.IntRange(2, 6).Draw(t, "batch") {
					a, ok := w.m.NextExcept(w.now, &taken)
					if !ok {
						break
					}
					if taken.interactions[a.Interaction] || (a.Agent != "" && agents[a.Agent]) {
						t.Fatalf("batch action %+v shares with %v", a, batch)
					}
					w.check(t, a, agents)
					batch = append(batch, a)
					taken.Add(a)
					agents[a.Agent] = true
				}
				if len(batch) == 0 {
					return false
				}
				for _, a := range batch {
					w.do(t, a)
				}
				return true
			},
			"accept": func(t *rapid.T) bool {
				_, s, ok := w.pick(t, "offered", offer.Offered)
				if !ok {
					return false
				}
				events, err := offer.Decide(s, offer.Accept{Agent: s.Offer.Agent, OfferID: s.Offer.ID, At: w.now})
				if err != nil {
					t.Fatal(err)
				}
				w.emit(t, events...)
				return true
			},
			"reject": func(t *rapid.T) bool {
				_, s, ok := w.pick(t, "offered", offer.Offered)
				if !ok {
					return false
				}
				events, err := offer.Decide(s, offer.Reject{Agent: s.Offer.Agent, OfferID: s.Offer.ID, At: w.now})
				if err != nil {
					t.Fatal(err)
				}
				w.emit(t, events...)
				return true
			},
			"time passes": func(t *rapid.T) bool {
				w.now = w.now.Add(time.Duration(rapid.IntRange(1, 20).Draw(t, "seconds")) * time.Second)
				return true
			},
			"done": func(t *rapid.T) bool {
				_, s, ok := w.pick(t, "accepted", offer.Accepted)
				if !ok {
					return false
				}
				events, err := offer.Decide(s, offer.Close{At: w.now, Reason: "done"})
				if err != nil {
					t.Fatal(err)
				}
				w.emit(t, events...)
				return true
			},
			"ready after work": func(t *rapid.T) bool {
				if len(w.holding) == 0 {
					return false
				}
				agent := rapid.SampledFrom(slices.Sorted(maps.Keys(w.holding))).Draw(t, "agent")
				w.setAgent(t, agent, SetAvailability{AgentID: agent, Ready: false, At: w.now})
				w.setAgent(t, agent, SetAvailability{AgentID: agent, Ready: true, At: w.now})
				return true
			},
			"cancel": func(t *rapid.T) bool {
				status := rapid.SampledFrom([]offer.Status{offer.Waiting, offer.Offered, offer.Accepted}).Draw(t, "status")
				_, s, ok := w.pick(t, "cancelled", status)
				if !ok {
					return false
				}
				events, err := offer.Decide(s, offer.Close{At: w.now, Reason: "callback cancelled", OnlyUnaccepted: true})
				if err != nil {
					t.Fatal(err)
				}
				w.emit(t, events...)
				return true
			},
		}
		// A long sequence rather than t.Repeat's 30 steps on average: missed
		// offers in a row and rejecters coming back need depth.
		names := slices.Sorted(maps.Keys(actions))
		for range rapid.IntRange(50, 400).Draw(t, "steps") {
			if actions[rapid.SampledFrom(names).Draw(t, "action")](t) {
				w.invariants(t)
			}
		}
	})
}

// invariants hold after every step.
func (w *world) invariants(t *rapid.T) {
	offersOf := map[string][]string{}
	for id, s := range w.streams {
		if s.Status == offer.Offered {
			offersOf[s.Offer.Agent] = append(offersOf[s.Offer.Agent], id)
		}
	}
	for agent, ids := range offersOf {
		if len(ids) > 1 {
			t.Fatalf("%s holds %d offers: %v", agent, len(ids), ids)
		}
	}
	// The indexed statistics agree with the world.
	for _, svc := range propServices {
		st := w.m.Stats(svc, w.now)
		var want Stats
		want.Service = svc
		for _, s := range w.streams {
			if s.Request.GetService() != svc {
				continue
			}
			switch s.Status {
			case offer.Waiting:
				want.Waiting++
				want.OldestWait = max(want.OldestWait, w.now.Sub(s.QueuedAt))
			case offer.Offered:
				want.Offered++
			}
		}
		req := requirements(w.rules.Services[svc].Skills)
		for _, ag := range propAgents {
			if w.agents[ag].Ready && qualifies(w.agents[ag].Skills, req) {
				want.AgentsReady++
				if w.free(ag) {
					want.AgentsAvailable++
				}
			}
		}
		if st != want {
			t.Fatalf("stats of %s = %+v, want %+v", svc, st, want)
		}
	}
}

// sameAction compares what a decision is about.
func sameAction(a, b Action) bool {
	return a.Kind == b.Kind && a.Interaction == b.Interaction && a.Agent == b.Agent && a.OfferID == b.OfferID &&
		a.Attempt == b.Attempt && a.Timeout == b.Timeout && slices.Equal(a.Missed, b.Missed)
}
