// Package queue is the router's pure matching logic: a model of the waiting
// interactions and the agents, folded from the router's own events
// (router-interaction-* and router-agent-*), and the choice of the next
// thing to do: let an offer run out, stop offering to an agent who missed
// too many, or offer the best-ranked waiting interaction (priority, aging,
// then oldest) to the qualified agent idle the longest. It also owns the
// router-agent stream's small aggregate (agent.go). No I/O and no clock:
// time comes in arguments.
//
// Matching is indexed so one decision costs about O(pools + log n), not a
// scan of every agent and interaction: agents are grouped in pools, one per
// distinct set of required skills, each with a heap of its free agents by
// idle time and a heap of its waiting interactions by rank (rules.go).
//
// A Model is not safe for concurrent use; its owner serialises access.
package queue

import (
	"maps"
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
	Skills    map[string]int32
	// Missed are the offers the agent let time out in a row.
	Missed []string

	// stopping: the agent missed the limit and the router has not recorded
	// it yet; nothing is offered to them meanwhile.
	stopping bool
	idle     int64 // IdleSince in Unix nanoseconds: the free heaps compare it often
	pools    []int // pools the agent qualifies for
	pos      []int // position in each pool's free heap, by pool; -1 when out
	free     bool  // in the free heaps of its pools
}

// Free says whether the agent may be offered an interaction now.
func (a *Agent) Free() bool { return a.Ready && a.Offer == "" && a.Holding == "" && !a.stopping }

type entry struct {
	offer.State
	seq     uint64 // fold order: breaks ties between equal queue times
	service string
	pool    int
	rank    int64
	waitAt  int // position in its pool's waiting heap
	oldAt   int // position in its service's waiting heap (oldest first)
	expAt   int // position in the expiry heap
	resAt   int // position in the reservation heap, while reserved
}

func (e *entry) before(o *entry) bool {
	if e.rank != o.rank {
		return e.rank < o.rank
	}
	if !e.QueuedAt.Equal(o.QueuedAt) {
		return e.QueuedAt.Before(o.QueuedAt)
	}
	return e.seq < o.seq
}

func olderThan(e, o *entry) bool {
	if !e.QueuedAt.Equal(o.QueuedAt) {
		return e.QueuedAt.Before(o.QueuedAt)
	}
	return e.seq < o.seq
}

func idleLonger(a, b *Agent) bool {
	if a.idle != b.idle {
		return a.idle < b.idle
	}
	return a.ID < b.ID
}

// pool is the agents who meet one set of requirements, and the interactions
// of the services that need exactly those.
type pool struct {
	req     []requirement
	free    indexed[*Agent]
	waiting indexed[*entry]
	ready   int // ready agents who qualify, free or not
}

// serviceQueue is what the statistics of one service need.
type serviceQueue struct {
	pool    int
	oldest  indexed[*entry]
	offered int
}

// Model is the router's in-memory view. Build it with New.
type Model struct {
	rules        Rules
	seq          uint64
	interactions map[string]*entry // open ones only: a closed interaction never changes again
	byCallback   map[string]string
	agents       map[string]*Agent
	pools        []*pool
	poolOf       map[string]int // configured services; the others are in pool 0 (no skills)
	queues       map[string]*serviceQueue
	expiries     indexed[*entry]
	stopping     map[string]*Agent
	// reservations are the waiting interactions kept for one agent (a
	// personal callback, a preferred agent), by the end of their wait;
	// reservedFor finds them by agent. They are in no pool meanwhile.
	reservations indexed[*entry]
	reservedFor  map[string]map[string]*entry
}

// New returns an empty model routing by rules.
func New(rules Rules) *Model {
	m := &Model{rules: rules, interactions: map[string]*entry{}, byCallback: map[string]string{},
		agents: map[string]*Agent{}, poolOf: map[string]int{}, queues: map[string]*serviceQueue{},
		stopping: map[string]*Agent{}, reservedFor: map[string]map[string]*entry{}}
	m.reservations = indexed[*entry]{less: func(a, b *entry) bool {
		if !a.Reserve.Until.Equal(b.Reserve.Until) {
			return a.Reserve.Until.Before(b.Reserve.Until)
		}
		return a.seq < b.seq
	}, at: func(e *entry, i int) { e.resAt = i }}
	m.expiries = indexed[*entry]{less: func(a, b *entry) bool {
		if !a.Offer.ExpiresAt.Equal(b.Offer.ExpiresAt) {
			return a.Offer.ExpiresAt.Before(b.Offer.ExpiresAt)
		}
		return a.seq < b.seq
	}, at: func(e *entry, i int) { e.expAt = i }}
	byKey := map[string]int{}
	add := func(req []requirement) int {
		k := requirementsKey(req)
		if p, ok := byKey[k]; ok {
			return p
		}
		p := len(m.pools)
		byKey[k] = p
		m.pools = append(m.pools, &pool{req: req,
			free:    indexed[*Agent]{less: idleLonger, at: func(a *Agent, i int) { a.pos[p] = i }},
			waiting: indexed[*entry]{less: (*entry).before, at: func(e *entry, i int) { e.waitAt = i }}})
		return p
	}
	add(nil)
	for _, name := range slices.Sorted(maps.Keys(rules.Services)) {
		m.poolOf[name] = add(requirements(rules.Services[name].Skills))
		m.queue(name)
	}
	return m
}

func (m *Model) queue(service string) *serviceQueue {
	q := m.queues[service]
	if q == nil {
		pool, ok := m.poolOf[service]
		if !ok {
			pool = m.poolOf[Any] // 0, no skills, when "*" is not set either
		}
		q = &serviceQueue{pool: pool,
			oldest: indexed[*entry]{less: olderThan, at: func(e *entry, i int) { e.oldAt = i }}}
		m.queues[service] = q
	}
	return q
}

func (m *Model) agent(id string) *Agent {
	a := m.agents[id]
	if a == nil {
		a = &Agent{ID: id, pos: make([]int, len(m.pools))}
		for i := range a.pos {
			a.pos[i] = -1
		}
		a.pools = m.qualifying(nil)
		m.agents[id] = a
	}
	return a
}

func (m *Model) qualifying(skills map[string]int32) []int {
	var out []int
	for i, p := range m.pools {
		if qualifies(skills, p.req) {
			out = append(out, i)
		}
	}
	return out
}

// change runs f on agent a and puts a back in the indexes according to what
// f made of it. Every change of an agent goes through here.
func (m *Model) change(a *Agent, f func()) {
	if a.free {
		for _, p := range a.pools {
			m.pools[p].free.Remove(a.pos[p])
		}
		a.free = false
	}
	if a.Ready {
		for _, p := range a.pools {
			m.pools[p].ready--
		}
	}
	f()
	a.stopping = m.rules.MissedOffers > 0 && a.Ready && len(a.Missed) >= m.rules.MissedOffers
	if a.stopping {
		m.stopping[a.ID] = a
	} else {
		delete(m.stopping, a.ID)
	}
	if a.Ready {
		for _, p := range a.pools {
			m.pools[p].ready++
		}
	}
	if a.Free() {
		// Free agents have become ready, so IdleSince is a real moment.
		a.idle = a.IdleSince.UnixNano()
		for _, p := range a.pools {
			m.pools[p].free.Push(a)
		}
		a.free = true
	}
}

// Apply folds one of the router's events.
func (m *Model) Apply(e proto.Message) {
	m.seq++
	switch e := e.(type) {
	case *routingv1.AgentAvailabilityChanged:
		a := m.agent(e.AgentId)
		m.change(a, func() {
			if e.Ready && !a.Ready {
				// Agent-session says READY again only after the agent finished
				// what they accepted (BUSY, Done, READY), so readiness ends the
				// hold; and after Not Ready "Missed offer", so the count restarts.
				a.IdleSince, a.Holding, a.Missed = e.At.AsTime(), "", nil
			}
			a.Ready = e.Ready
		})
	case *routingv1.AgentSkillsChanged:
		a := m.agent(e.AgentId)
		m.change(a, func() {
			a.Skills = e.Skills
			a.pools = m.qualifying(e.Skills)
		})
	case *routingv1.AgentMissedOffers:
		a := m.agent(e.AgentId)
		m.change(a, func() { a.Ready, a.Missed = false, nil })
	case *routingv1.InteractionQueued:
		if _, open := m.interactions[e.InteractionId]; open {
			return
		}
		svc := e.Request.GetService()
		q := m.queue(svc)
		en := &entry{seq: m.seq, service: svc, pool: q.pool, waitAt: -1, oldAt: -1, expAt: -1, resAt: -1}
		en.State = offer.Evolve(en.State, e)
		en.rank = m.rules.rank(m.rules.Service(svc).Priority, en.QueuedAt)
		m.interactions[e.InteractionId] = en
		m.index(en)
		if e.CallbackId != "" {
			m.byCallback[e.CallbackId] = e.InteractionId
		}
	case *routingv1.InteractionReleased:
		m.evolve(e.InteractionId, e)
	case *routingv1.InteractionOffered:
		if m.evolve(e.InteractionId, e) {
			a := m.agent(e.AgentId)
			m.change(a, func() { a.Offer = e.InteractionId })
		}
	case *routingv1.OfferAccepted:
		if m.evolve(e.InteractionId, e) {
			a := m.agent(e.AgentId)
			m.change(a, func() {
				release(a, e.InteractionId)
				a.Holding, a.Missed = e.InteractionId, nil
			})
		}
	case *routingv1.OfferRejected:
		if m.evolve(e.InteractionId, e) {
			a := m.agent(e.AgentId)
			m.change(a, func() {
				release(a, e.InteractionId)
				a.IdleSince, a.Missed = e.At.AsTime(), nil
			})
		}
	case *routingv1.OfferTimedOut:
		if m.evolve(e.InteractionId, e) {
			a := m.agent(e.AgentId)
			m.change(a, func() {
				release(a, e.InteractionId)
				a.IdleSince = e.At.AsTime()
				a.Missed = append(a.Missed, e.OfferId)
			})
		}
	case *routingv1.InteractionClosed:
		en, open := m.interactions[e.InteractionId]
		if !open {
			return
		}
		m.unindex(en)
		if ag := en.Offer.Agent; ag != "" {
			a := m.agent(ag)
			m.change(a, func() {
				release(a, e.InteractionId)
				if a.Holding == e.InteractionId {
					a.Holding, a.IdleSince = "", e.At.AsTime()
				}
			})
		}
		delete(m.interactions, e.InteractionId)
		if m.byCallback[en.CallbackID] == e.InteractionId {
			delete(m.byCallback, en.CallbackID)
		}
	}
}

// evolve folds e into an open interaction, keeping the indexes in step, and
// says whether there was one.
func (m *Model) evolve(id string, e proto.Message) bool {
	en, open := m.interactions[id]
	if open {
		m.unindex(en)
		en.State = offer.Evolve(en.State, e)
		m.index(en)
	}
	return open
}

func (m *Model) index(en *entry) {
	q := m.queues[en.service]
	switch en.Status {
	case offer.Waiting:
		q.oldest.Push(en)
		if en.Reserved() {
			m.reservations.Push(en)
			byID := m.reservedFor[en.Reserve.Agent]
			if byID == nil {
				byID = map[string]*entry{}
				m.reservedFor[en.Reserve.Agent] = byID
			}
			byID[en.ID] = en
			return
		}
		m.pools[en.pool].waiting.Push(en)
	case offer.Offered:
		m.expiries.Push(en)
		q.offered++
	}
}

func (m *Model) unindex(en *entry) {
	q := m.queues[en.service]
	switch en.Status {
	case offer.Waiting:
		q.oldest.Remove(en.oldAt)
		if en.Reserved() {
			m.reservations.Remove(en.resAt)
			byID := m.reservedFor[en.Reserve.Agent]
			delete(byID, en.ID)
			if len(byID) == 0 {
				delete(m.reservedFor, en.Reserve.Agent)
			}
			return
		}
		m.pools[en.pool].waiting.Remove(en.waitAt)
	case offer.Offered:
		m.expiries.Remove(en.expAt)
		q.offered--
	}
}

func release(a *Agent, interactionID string) {
	if a.Offer == interactionID {
		a.Offer = ""
	}
}
