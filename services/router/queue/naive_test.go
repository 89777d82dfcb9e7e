package queue

import (
	"cmp"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/router/offer"
)

// naive is the matching rules written as plainly as possible: no index, a
// scan of every interaction and every agent for each decision. It is the
// baseline of the benchmark and the oracle of the property test: the indexed
// Model must decide exactly what it decides.
type naive struct {
	rules        Rules
	req          map[string][]requirement
	seq          uint64
	agents       map[string]*naiveAgent
	interactions map[string]*naiveEntry
}

type naiveAgent struct {
	id      string
	ready   bool
	idle    time.Time
	offer   string
	holding string
	skills  map[string]int32
	missed  []string
}

type naiveEntry struct {
	offer.State
	seq     uint64
	service string
}

func newNaive(r Rules) *naive {
	n := &naive{rules: r, req: map[string][]requirement{}, agents: map[string]*naiveAgent{},
		interactions: map[string]*naiveEntry{}}
	for name, s := range r.Services {
		n.req[name] = requirements(s.Skills)
	}
	return n
}

func (n *naive) agent(id string) *naiveAgent {
	a := n.agents[id]
	if a == nil {
		a = &naiveAgent{id: id}
		n.agents[id] = a
	}
	return a
}

func (n *naive) stopping(a *naiveAgent) bool {
	return n.rules.MissedOffers > 0 && a.ready && len(a.missed) >= n.rules.MissedOffers
}

func (n *naive) free(a *naiveAgent) bool {
	return a.ready && a.offer == "" && a.holding == "" && !n.stopping(a)
}

func (n *naive) Apply(e proto.Message) {
	n.seq++
	release := func(id, interaction string) *naiveAgent {
		a := n.agent(id)
		if a.offer == interaction {
			a.offer = ""
		}
		return a
	}
	evolve := func(id string, e proto.Message) bool {
		en, ok := n.interactions[id]
		if ok {
			en.State = offer.Evolve(en.State, e)
		}
		return ok
	}
	switch e := e.(type) {
	case *routingv1.AgentAvailabilityChanged:
		a := n.agent(e.AgentId)
		if e.Ready && !a.ready {
			a.idle, a.holding, a.missed = e.At.AsTime(), "", nil
		}
		a.ready = e.Ready
	case *routingv1.AgentSkillsChanged:
		n.agent(e.AgentId).skills = e.Skills
	case *routingv1.AgentMissedOffers:
		a := n.agent(e.AgentId)
		a.ready, a.missed = false, nil
	case *routingv1.InteractionQueued:
		if _, ok := n.interactions[e.InteractionId]; ok {
			return
		}
		en := &naiveEntry{seq: n.seq, service: e.Request.GetService()}
		en.State = offer.Evolve(en.State, e)
		n.interactions[e.InteractionId] = en
	case *routingv1.InteractionOffered:
		if evolve(e.InteractionId, e) {
			n.agent(e.AgentId).offer = e.InteractionId
		}
	case *routingv1.OfferAccepted:
		if evolve(e.InteractionId, e) {
			a := release(e.AgentId, e.InteractionId)
			a.holding, a.missed = e.InteractionId, nil
		}
	case *routingv1.OfferRejected:
		if evolve(e.InteractionId, e) {
			a := release(e.AgentId, e.InteractionId)
			a.idle, a.missed = e.At.AsTime(), nil
		}
	case *routingv1.OfferTimedOut:
		if evolve(e.InteractionId, e) {
			a := release(e.AgentId, e.InteractionId)
			a.idle, a.missed = e.At.AsTime(), append(a.missed, e.OfferId)
		}
	case *routingv1.InteractionClosed:
		en, ok := n.interactions[e.InteractionId]
		if !ok {
			return
		}
		if ag := en.Offer.Agent; ag != "" {
			a := release(ag, e.InteractionId)
			if a.holding == e.InteractionId {
				a.holding, a.idle = "", e.At.AsTime()
			}
		}
		delete(n.interactions, e.InteractionId)
	}
}

// effective is a waiting interaction's priority at now, scaled by the aging
// step so it stays an exact integer: priority*step + waited.
func (n *naive) effective(en *naiveEntry, now time.Time) int64 {
	p := int64(n.rules.Service(en.service).Priority)
	if n.rules.AgingStep <= 0 {
		return p
	}
	return p*int64(n.rules.AgingStep) + int64(now.Sub(en.QueuedAt))
}

func (n *naive) Next(now time.Time) (Action, bool) {
	var first *naiveEntry
	for _, en := range n.interactions {
		if en.Status == offer.Offered && (first == nil || en.Offer.ExpiresAt.Before(first.Offer.ExpiresAt) ||
			en.Offer.ExpiresAt.Equal(first.Offer.ExpiresAt) && en.seq < first.seq) {
			first = en
		}
	}
	if first != nil && !now.Before(first.Offer.ExpiresAt) {
		return Action{Kind: Expire, Interaction: first.ID, Agent: first.Offer.Agent, OfferID: first.Offer.ID,
			CallbackID: first.CallbackID, Service: first.service, QueuedAt: first.QueuedAt}, true
	}
	var stop *naiveAgent
	for _, a := range n.agents {
		if n.stopping(a) && (stop == nil || a.id < stop.id) {
			stop = a
		}
	}
	if stop != nil {
		return Action{Kind: StopOffers, Agent: stop.id, Missed: slices.Clone(stop.missed)}, true
	}
	var waiting []*naiveEntry
	for _, en := range n.interactions {
		if en.Status == offer.Waiting {
			waiting = append(waiting, en)
		}
	}
	slices.SortFunc(waiting, func(a, b *naiveEntry) int {
		return cmp.Or(cmp.Compare(n.effective(b, now), n.effective(a, now)), a.QueuedAt.Compare(b.QueuedAt),
			cmp.Compare(a.seq, b.seq))
	})
	for _, en := range waiting {
		var best, fallback *naiveAgent
		for _, a := range n.agents {
			if !n.free(a) || !qualifies(a.skills, n.req[en.service]) {
				continue
			}
			if en.HasPassed(a.id) {
				if fallback == nil || naiveIdleLonger(a, fallback) {
					fallback = a
				}
			} else if best == nil || naiveIdleLonger(a, best) {
				best = a
			}
		}
		if best == nil {
			best = fallback
		}
		if best != nil {
			return Action{Kind: Offer, Interaction: en.ID, Agent: best.id, CallbackID: en.CallbackID, Service: en.service,
				QueuedAt: en.QueuedAt, Attempt: en.Attempts + 1, Timeout: n.rules.Service(en.service).OfferTimeout}, true
		}
	}
	return Action{}, false
}

func naiveIdleLonger(a, b *naiveAgent) bool {
	if !a.idle.Equal(b.idle) {
		return a.idle.Before(b.idle)
	}
	return a.id < b.id
}
