package queue

import (
	"maps"
	"slices"
	"time"
)

// Kind is what the dispatcher should do.
type Kind int

// Kinds of Action.
const (
	Expire     Kind = iota + 1 // the offer ran out: time it out
	Offer                      // offer the interaction to the agent
	StopOffers                 // the agent missed too many offers: record it
	Release                    // a reservation's wait ended: any agent may have it
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
	Attempt     int           // Offer: which offer of the interaction this is, from 1
	Timeout     time.Duration // Offer: how long the offer runs (the service's)
	Missed      []string      // StopOffers: the offers missed in a row, oldest first
}

// Taken are the interactions and agents of actions already decided but not
// folded yet: a dispatcher deciding several actions at once passes them so
// no two actions share an interaction or an agent.
type Taken struct {
	interactions map[string]bool
	agents       map[string]bool
}

// Add records what a takes.
func (t *Taken) Add(a Action) {
	if t.interactions == nil {
		t.interactions, t.agents = map[string]bool{}, map[string]bool{}
	}
	if a.Interaction != "" {
		t.interactions[a.Interaction] = true
	}
	if a.Agent != "" {
		t.agents[a.Agent] = true
	}
}

func (t *Taken) hasInteraction(en *entry) bool { return t != nil && t.interactions[en.ID] }
func (t *Taken) hasAgent(a *Agent) bool        { return t != nil && t.agents[a.ID] }

// Next is the most urgent thing to do at now, if any.
func (m *Model) Next(now time.Time) (Action, bool) { return m.NextExcept(now, nil) }

// NextExcept is Next leaving out what taken holds. In order: offers that ran
// out (a timed-out interaction goes back to the queue before anything is
// matched), agents who missed too many offers, then the best-ranked waiting
// interaction that a free qualified agent can take, to the one idle longest.
func (m *Model) NextExcept(now time.Time, taken *Taken) (Action, bool) {
	var (
		skipEntry func(*entry) bool
		skipAgent func(*Agent) bool
	)
	if taken != nil {
		skipEntry, skipAgent = taken.hasInteraction, taken.hasAgent
	}
	if en, ok := m.expiries.First(skipEntry); ok && !now.Before(en.Offer.ExpiresAt) {
		return Action{Kind: Expire, Interaction: en.ID, Agent: en.Offer.Agent, OfferID: en.Offer.ID,
			CallbackID: en.CallbackID, Service: en.service, QueuedAt: en.QueuedAt}, true
	}
	if len(m.stopping) > 0 {
		// Few at a time; sorted so replays and tests see one order.
		for _, id := range slices.Sorted(maps.Keys(m.stopping)) {
			a := m.stopping[id]
			if !taken.hasAgent(a) {
				return Action{Kind: StopOffers, Agent: a.ID, Missed: slices.Clone(a.Missed)}, true
			}
		}
	}
	if en, ok := m.reservations.First(skipEntry); ok && !now.Before(en.Reserve.Until) {
		return Action{Kind: Release, Interaction: en.ID, Agent: en.Reserve.Agent, CallbackID: en.CallbackID,
			Service: en.service, QueuedAt: en.QueuedAt}, true
	}
	if act, ok := m.nextReserved(taken); ok {
		return act, true
	}
	var (
		best     *entry
		bestPool *pool
	)
	for _, p := range m.pools {
		if p.waiting.Len() == 0 || p.free.Len() == 0 {
			continue
		}
		en, ok := p.waiting.First(skipEntry)
		if !ok || (best != nil && !en.before(best)) {
			continue
		}
		if _, ok := p.free.First(skipAgent); !ok {
			continue
		}
		best, bestPool = en, p
	}
	if best == nil {
		return Action{}, false
	}
	// The longest idle agent who has not passed on it yet, else one who has
	// (longest idle again), since a rejected callback waiting for nobody
	// helps no one.
	a, ok := bestPool.free.First(func(a *Agent) bool { return taken.hasAgent(a) || best.HasPassed(a.ID) })
	if !ok {
		a, _ = bestPool.free.First(skipAgent)
	}
	return Action{Kind: Offer, Interaction: best.ID, Agent: a.ID, CallbackID: best.CallbackID,
		Service: best.service, QueuedAt: best.QueuedAt, Attempt: best.Attempts + 1,
		Timeout: m.rules.Service(best.service).OfferTimeout}, true
}

// nextReserved offers a free agent the best of the interactions kept for
// them. Few agents hold reservations at once, so they are simply walked,
// in a fixed order for replays and tests.
func (m *Model) nextReserved(taken *Taken) (Action, bool) {
	for _, id := range slices.Sorted(maps.Keys(m.reservedFor)) {
		a := m.agents[id]
		if a == nil || !a.Free() || taken.hasAgent(a) {
			continue
		}
		var best *entry
		for _, en := range m.reservedFor[id] {
			if !taken.hasInteraction(en) && (best == nil || en.before(best)) {
				best = en
			}
		}
		if best != nil {
			return Action{Kind: Offer, Interaction: best.ID, Agent: a.ID, CallbackID: best.CallbackID,
				Service: best.service, QueuedAt: best.QueuedAt, Attempt: best.Attempts + 1,
				Timeout: m.rules.Service(best.service).OfferTimeout}, true
		}
	}
	return Action{}, false
}

// NextExpiry is when the dispatcher must look again: the earliest live
// offer runs out, or the earliest reservation ends.
func (m *Model) NextExpiry() (time.Time, bool) {
	var (
		at time.Time
		ok bool
	)
	if en, live := m.expiries.Top(); live {
		at, ok = en.Offer.ExpiresAt, true
	}
	if en, live := m.reservations.Top(); live && (!ok || en.Reserve.Until.Before(at)) {
		at, ok = en.Reserve.Until, true
	}
	return at, ok
}

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
	AgentsReady     int // ready on the web-callback channel with the service's skills
	AgentsAvailable int // of those, holding nothing: could take an offer now
}

// Stats of one service's queue at now; a service never queued has zeros
// but still counts the agents who could serve it.
func (m *Model) Stats(service string, now time.Time) Stats {
	p := m.pools[m.poolOf[service]]
	st := Stats{Service: service, AgentsReady: p.ready, AgentsAvailable: p.free.Len()}
	if q := m.queues[service]; q != nil {
		st.Waiting, st.Offered = q.oldest.Len(), q.offered
		if en, ok := q.oldest.Top(); ok {
			st.OldestWait = max(0, now.Sub(en.QueuedAt))
		}
	}
	return st
}

// Services are the services configured or ever queued, sorted.
func (m *Model) Services() []string {
	out := make([]string, 0, len(m.queues))
	for s := range m.queues {
		if s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}
