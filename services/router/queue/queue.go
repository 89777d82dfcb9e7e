// Package queue is the router's pure matching logic: a model of the waiting
// interactions and the agents, folded from the router's own events
// (router-interaction-* and router-agent-*), and the choice of the next
// thing to do: let an offer run out, or offer the oldest waiting interaction
// to the agent idle the longest. It also owns the router-agent stream's
// small aggregate (agent.go). No I/O and no clock: time comes in arguments.
//
// A Model is not safe for concurrent use; its owner serialises access.
package queue

import (
	"cmp"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/router/offer"
)

// Agent is an agent as the router sees it.
type Agent struct {
	ID    string
	Ready bool
	// IdleSince is when the agent became ready or last finished with an
	// interaction or an offer: the longest idle agent is served first.
	IdleSince time.Time
	Offer     string // interaction the agent holds an offer for
	Holding   string // accepted interaction the agent still works on
}

// Free says whether the agent may be offered an interaction now.
func (a *Agent) Free() bool { return a.Ready && a.Offer == "" && a.Holding == "" }

type entry struct {
	offer.State
	seq uint64 // fold order: breaks ties between equal queue times
}

// Model is the router's in-memory view. Build it with New.
type Model struct {
	seq          uint64
	interactions map[string]*entry // open ones only: a closed interaction never changes again
	byCallback   map[string]string
	agents       map[string]*Agent
	services     map[string]bool // every service ever queued, so a drained queue still shows
}

// New returns an empty model.
func New() *Model {
	return &Model{interactions: map[string]*entry{}, byCallback: map[string]string{},
		agents: map[string]*Agent{}, services: map[string]bool{}}
}

func (m *Model) agent(id string) *Agent {
	a := m.agents[id]
	if a == nil {
		a = &Agent{ID: id}
		m.agents[id] = a
	}
	return a
}

// Apply folds one of the router's events.
func (m *Model) Apply(e proto.Message) {
	m.seq++
	switch e := e.(type) {
	case *routingv1.AgentAvailabilityChanged:
		a := m.agent(e.AgentId)
		if e.Ready && !a.Ready {
			// Agent-session says READY again only after the agent finished
			// what they accepted (BUSY, Done, READY), so readiness ends the hold.
			a.IdleSince, a.Holding = e.At.AsTime(), ""
		}
		a.Ready = e.Ready
	case *routingv1.InteractionQueued:
		if _, open := m.interactions[e.InteractionId]; open {
			return
		}
		en := &entry{seq: m.seq}
		en.State = offer.Evolve(en.State, e)
		m.interactions[e.InteractionId] = en
		if e.CallbackId != "" {
			m.byCallback[e.CallbackId] = e.InteractionId
		}
		if svc := e.Request.GetService(); svc != "" {
			m.services[svc] = true
		}
	case *routingv1.InteractionOffered:
		if m.evolve(e.InteractionId, e) {
			m.agent(e.AgentId).Offer = e.InteractionId
		}
	case *routingv1.OfferAccepted:
		if m.evolve(e.InteractionId, e) {
			a := m.agent(e.AgentId)
			release(a, e.InteractionId)
			a.Holding = e.InteractionId
		}
	case *routingv1.OfferRejected:
		if m.evolve(e.InteractionId, e) {
			a := m.agent(e.AgentId)
			release(a, e.InteractionId)
			a.IdleSince = e.At.AsTime()
		}
	case *routingv1.OfferTimedOut:
		if m.evolve(e.InteractionId, e) {
			a := m.agent(e.AgentId)
			release(a, e.InteractionId)
			a.IdleSince = e.At.AsTime()
		}
	case *routingv1.InteractionClosed:
		en, open := m.interactions[e.InteractionId]
		if !open {
			return
		}
		if ag := en.Offer.Agent; ag != "" {
			a := m.agent(ag)
			release(a, e.InteractionId)
			if a.Holding == e.InteractionId {
				a.Holding, a.IdleSince = "", e.At.AsTime()
			}
		}
		delete(m.interactions, e.InteractionId)
		if m.byCallback[en.CallbackID] == e.InteractionId {
			delete(m.byCallback, en.CallbackID)
		}
	}
}

// evolve folds e into an open interaction and says whether there was one.
func (m *Model) evolve(id string, e proto.Message) bool {
	en, open := m.interactions[id]
	if open {
		en.State = offer.Evolve(en.State, e)
	}
	return open
}

func release(a *Agent, interactionID string) {
	if a.Offer == interactionID {
		a.Offer = ""
	}
}

// Kind is what the dispatcher should do.
type Kind int

// Kinds of Action.
const (
	Expire Kind = iota + 1 // the offer ran out: time it out
	Offer                  // offer the interaction to the agent
)

// Action is the dispatcher's next step.
type Action struct {
	Kind        Kind
	Interaction string
	CallbackID  string
	Agent       string
	OfferID     string // Expire: the offer that ran out
	Service     string
	QueuedAt    time.Time
	Attempt     int // Offer: which offer of the interaction this is, from 1
}

// Next is the most urgent thing to do at now, if any: first the offers that
// ran out (a timed-out interaction must go back to the queue before anything
// is matched), then the oldest waiting interaction an agent can take.
func (m *Model) Next(now time.Time) (Action, bool) {
	if en := m.earliestOffer(); en != nil && !now.Before(en.Offer.ExpiresAt) {
		return Action{Kind: Expire, Interaction: en.ID, Agent: en.Offer.Agent, OfferID: en.Offer.ID,
			CallbackID: en.CallbackID, Service: en.Request.GetService(), QueuedAt: en.QueuedAt}, true
	}
	free := m.freeAgents()
	if len(free) == 0 {
		return Action{}, false
	}
	for _, en := range m.waiting() {
		if a := choose(en, free); a != nil {
			return Action{Kind: Offer, Interaction: en.ID, Agent: a.ID, CallbackID: en.CallbackID,
				Service:  en.Request.GetService(),
				QueuedAt: en.QueuedAt, Attempt: en.Attempts + 1}, true
		}
	}
	return Action{}, false
}

// NextExpiry is when the earliest live offer runs out.
func (m *Model) NextExpiry() (time.Time, bool) {
	if en := m.earliestOffer(); en != nil {
		return en.Offer.ExpiresAt, true
	}
	return time.Time{}, false
}

func (m *Model) earliestOffer() *entry {
	var first *entry
	for _, en := range m.interactions {
		if en.Status == offer.Offered && (first == nil || en.Offer.ExpiresAt.Before(first.Offer.ExpiresAt)) {
			first = en
		}
	}
	return first
}

// waiting is the queue, oldest first. Sorting on every decision is fine at
// the queue lengths of one site; priority and aging will change this order.
func (m *Model) waiting() []*entry {
	var out []*entry
	for _, en := range m.interactions {
		if en.Status == offer.Waiting {
			out = append(out, en)
		}
	}
	slices.SortFunc(out, func(a, b *entry) int {
		return cmp.Or(a.QueuedAt.Compare(b.QueuedAt), cmp.Compare(a.seq, b.seq))
	})
	return out
}

// freeAgents are the agents who may take an offer, longest idle first.
func (m *Model) freeAgents() []*Agent {
	var out []*Agent
	for _, a := range m.agents {
		if a.Free() {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b *Agent) int {
		return cmp.Or(a.IdleSince.Compare(b.IdleSince), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// choose picks the agent for an interaction among the free ones (longest
// idle first): one who has not passed on it yet, else one who has, since a
// rejected callback waiting for nobody helps no one.
func choose(en *entry, free []*Agent) *Agent {
	var fallback *Agent
	for _, a := range free {
		if !qualifies(a, en) {
			continue
		}
		if !en.HasPassed(a.ID) {
			return a
		}
		if fallback == nil {
			fallback = a
		}
	}
	return fallback
}

// qualifies is where skills will decide who may take what; today every
// agent ready on the web-callback channel takes every service.
func qualifies(*Agent, *entry) bool { return true }

// InteractionOf is the open interaction of a callback.
func (m *Model) InteractionOf(callbackID string) (string, bool) {
	id, ok := m.byCallback[callbackID]
	return id, ok
}

// CallbackOf is the callback of an open interaction.
func (m *Model) CallbackOf(interactionID string) (string, bool) {
	en, ok := m.interactions[interactionID]
	if !ok {
		return "", false
	}
	return en.CallbackID, true
}

// Stats is a queue as GET /v1/queues shows it.
type Stats struct {
	Service         string
	Waiting         int
	OldestWait      time.Duration
	Offered         int
	AgentsReady     int // ready on the web-callback channel
	AgentsAvailable int // ready and holding nothing: could take an offer now
}

// Stats of one service's queue at now; a service never queued has zeros.
func (m *Model) Stats(service string, now time.Time) Stats {
	st := Stats{Service: service}
	for _, en := range m.interactions {
		if en.Request.GetService() != service {
			continue
		}
		switch en.Status {
		case offer.Waiting:
			st.Waiting++
			st.OldestWait = max(st.OldestWait, now.Sub(en.QueuedAt))
		case offer.Offered:
			st.Offered++
		}
	}
	// Without skills every ready agent serves every queue.
	for _, a := range m.agents {
		if !a.Ready {
			continue
		}
		st.AgentsReady++
		if a.Free() {
			st.AgentsAvailable++
		}
	}
	return st
}

// Services are the services ever queued, sorted.
func (m *Model) Services() []string {
	out := make([]string, 0, len(m.services))
	for s := range m.services {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
