package agentsession

import (
	"slices"
	"sort"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/generations"
	"github.com/ringback/ringback/libs/streams"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	"github.com/ringback/ringback/services/agent-session/agent"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// view is agent-session's read model, folded from its own streams: every
// agent, and the interactions each one has open.
type view struct {
	mu           sync.RWMutex
	agents       map[string]agent.State
	interactions map[string]interaction.State // open ones
	open         map[string]map[string]bool   // agent -> open interaction ids
	countdown    map[string]bool              // offered interactions with an auto-answer
	// afterWork holds the agents in After Call Work on web callback, with
	// the revision of the event that began it: the ACW loop ends them from
	// here, and the revision names that end the same on every replica.
	afterWork map[string]eventstore.Revision
	// finished holds the interactions Done whose agent's After Call Work
	// is not stored yet (the Done handler writes it; the loop does if the
	// process died in between).
	finished map[string]interaction.State
	// afterWorkVersion moves whenever afterWork or finished changes, so the
	// loop over them rescans only then (Changed fires for every event).
	afterWorkVersion uint64
	// partyRings: agent -> the open interaction whose call rings, or is up
	// on, their browser as its third party (issue 15).
	partyRings map[string]string
	// byCallback: callback id -> its open interaction.
	byCallback map[string]string
	// cancelledOpen: open interaction id -> why its callback was cancelled
	// (a supervisor ended it, or the visitor cancelled as the agent took
	// it): the desktop says so at once, not when Call this contact is
	// refused.
	cancelledOpen map[string]string
	// zones: open interaction id -> its contact's zones, worked out once
	// (the numbering plan's lookup was nine in ten of the work of
	// rendering an interaction, done for every event of it).
	zones map[string]contactZones
	// cancelled: why the callbacks cancelled lately were, for an
	// interaction stored after its callback's cancel (the visitor's cancel
	// and the agent's accept crossed).
	cancelled generations.Map[string, string]
}

// contactZones are the zone names of a number and a browser's zone.
type contactZones struct {
	number, tz string
	names      []string
}

// recentCancels is the size of a generation of view.cancelled: cancels in
// the seconds an accept takes, with a wide margin.
const recentCancels = 4096

// change is what one folded event changed, for the desktops: the agent's
// own state, or an interaction as it is after the event (kept even when the
// event closed it, so the agent sees it withdrawn or done).
type change struct {
	agent       string
	interaction *interaction.State // nil: the agent's state changed
	offer       bool               // the event presented the interaction
	// from is the agent the event took the interaction from (a transfer):
	// their desktops get it too, and close its window.
	from string
	// party is the agent whose browser the interaction's call rings, or
	// rang until this event, as its third party: their desktops get their
	// own state again (its party_call).
	party string
}

func newView() *view {
	return &view{agents: map[string]agent.State{}, interactions: map[string]interaction.State{},
		open: map[string]map[string]bool{}, countdown: map[string]bool{},
		afterWork: map[string]eventstore.Revision{}, finished: map[string]interaction.State{}, partyRings: map[string]string{},
		byCallback: map[string]string{}, cancelledOpen: map[string]string{}, zones: map[string]contactZones{},
		cancelled: generations.Map[string, string]{Size: recentCancels}}
}

func (v *view) apply(r eventstore.RecordedEvent, e proto.Message) change {
	v.mu.Lock()
	defer v.mu.Unlock()
	if id, ok := strings.CutPrefix(r.Stream, "agent-interaction-"); ok {
		prev := v.interactions[id]
		st := interaction.Evolve(prev, e)
		_, presented := e.(*agentv1.InteractionPresented)
		c := change{agent: st.Agent, interaction: &st, offer: presented}
		if prev.Agent != "" && prev.Agent != st.Agent {
			delete(v.open[prev.Agent], id)
			c.from = prev.Agent
		}
		c.party = v.notePartyRing(id, prev, st)
		if st.Phase == interaction.Offered && !st.AutoAnswer.IsZero() {
			v.countdown[id] = true
		} else {
			delete(v.countdown, id)
		}
		if _, done := e.(*agentv1.InteractionDone); done {
			v.finished[id] = st
			v.afterWorkVersion++
		}
		if st.Phase == interaction.Done || st.Phase == interaction.Withdrawn {
			delete(v.interactions, id)
			delete(v.open[st.Agent], id)
			delete(v.cancelledOpen, id)
			delete(v.zones, id)
			if v.byCallback[st.CallbackID] == id {
				delete(v.byCallback, st.CallbackID)
			}
			return c
		}
		v.interactions[id] = st
		if cb := st.CallbackID; cb != "" && v.byCallback[cb] != id {
			v.byCallback[cb] = id
			if why, ok := v.cancelled.Get(cb); ok {
				v.cancelledOpen[id] = why
			}
		}
		if v.open[st.Agent] == nil {
			v.open[st.Agent] = map[string]bool{}
		}
		v.open[st.Agent][id] = true
		return c
	}
	id := strings.TrimPrefix(r.Stream, streams.AgentSession)
	if iid, ok := strings.CutPrefix(r.Metadata[eventstore.MetaCausation], doneCause); ok {
		if _, ok := v.finished[iid]; ok {
			delete(v.finished, iid)
			v.afterWorkVersion++
		}
	}
	a := agent.Evolve(v.agents[id], e)
	v.agents[id] = a
	_, was := v.afterWork[id]
	switch _, due := a.AfterCallWorkDue(0); {
	case !due && was:
		delete(v.afterWork, id)
		v.afterWorkVersion++
	case due && isAfterCallWork(e):
		v.afterWork[id] = r.Revision
		v.afterWorkVersion++
	}
	return change{agent: id}
}

// notePartyRing keeps partyRings as interaction id goes from prev to st,
// and names the party agent whose ring changed ("" for none).
func (v *view) notePartyRing(id string, prev, st interaction.State) string {
	was, wring, _ := prev.BrowserParty()
	now, nring, _ := st.BrowserParty()
	if was != "" && was != now && v.partyRings[was] == id {
		delete(v.partyRings, was)
	}
	if now != "" {
		v.partyRings[now] = id
	}
	switch {
	case now != "" && (now != was || nring != wring || prev.Third.Status != st.Third.Status):
		return now
	case was != "" && was != now:
		return was
	}
	return ""
}

// partyCall is the interaction whose call rings, or is up on, agent's
// browser as its third party.
func (v *view) partyCall(agent string) (interaction.State, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	id, ok := v.partyRings[agent]
	if !ok {
		return interaction.State{}, false
	}
	st, ok := v.interactions[id]
	if a, _, up := st.BrowserParty(); !ok || !up || a != agent {
		return interaction.State{}, false
	}
	return st, true
}

func isAfterCallWork(e proto.Message) bool {
	sc, ok := e.(*agentv1.AgentStateChanged)
	return ok && sc.ChannelOrLegacy() == agent.WebCallback && sc.StateOrLegacy() == agent.AfterCallWork
}

func (v *view) agent(id string) (agent.State, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	a, ok := v.agents[id]
	return a, ok
}

func (v *view) interaction(id string) (interaction.State, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	st, ok := v.interactions[id]
	return st, ok
}

// openOf lists an agent's open interactions, oldest first.
func (v *view) openOf(agentID string) []interaction.State {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]interaction.State, 0, len(v.open[agentID]))
	for id := range v.open[agentID] {
		out = append(out, v.interactions[id])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Updated.Before(out[j].Updated) })
	return out
}

// afterWorkChanged is the version of the After Call Work sets.
func (v *view) afterWorkChanged() uint64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.afterWorkVersion
}

// afterCallWork is an agent in After Call Work.
type afterCallWork struct {
	agent string
	state agent.State
	rev   eventstore.Revision // of the event that began it
}

// inAfterCallWork lists the agents in After Call Work on web callback.
func (v *view) inAfterCallWork() []afterCallWork {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]afterCallWork, 0, len(v.afterWork))
	for id, rev := range v.afterWork {
		out = append(out, afterCallWork{agent: id, state: v.agents[id], rev: rev})
	}
	return out
}

// finishedWithoutAfterCallWork lists the interactions Done whose agent's
// After Call Work is not stored yet.
func (v *view) finishedWithoutAfterCallWork() []interaction.State {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]interaction.State, 0, len(v.finished))
	for _, st := range v.finished {
		out = append(out, st)
	}
	return out
}

// forget drops a finished interaction the domain will not put the agent in
// After Call Work for (the agent logged out meanwhile, say).
func (v *view) forget(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.finished, id)
	v.afterWorkVersion++
}

// autoAnswers lists the offers counting down to an auto-answer.
func (v *view) autoAnswers() []interaction.State {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]interaction.State, 0, len(v.countdown))
	for id := range v.countdown {
		out = append(out, v.interactions[id])
	}
	return out
}

// callbackCancelled notes that callback cb was cancelled, for why: the
// change for the desktops when an interaction of it is open.
func (v *view) callbackCancelled(cb, why string) (change, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.cancelled.Put(cb, why)
	id, ok := v.byCallback[cb]
	if !ok {
		return change{}, false
	}
	v.cancelledOpen[id] = why
	st := v.interactions[id]
	// A preview is sent as a preview, as snapshot sends it.
	return change{agent: st.Agent, interaction: &st, offer: st.Phase == interaction.Offered}, true
}

// cancelledWhy says why callback cb of interaction id was cancelled, if it
// was: the interaction may be read from the store before this view folds
// it, its callback's cancel already folded.
func (v *view) cancelledWhy(id, cb string) (string, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if why, ok := v.cancelledOpen[id]; ok {
		return why, true
	}
	if cb == "" {
		return "", false
	}
	return v.cancelled.Get(cb)
}

// contactZones are the zone names of the contact of interaction id, whose
// number and browser zone are number and tz: worked out once while the
// interaction is open, and again if either changes (an erased number).
func (v *view) contactZones(id, number, tz string) []string {
	v.mu.RLock()
	z, ok := v.zones[id]
	v.mu.RUnlock()
	if ok && z.number == number && z.tz == tz {
		return slices.Clone(z.names)
	}
	names := zoneNames(number, tz)
	v.mu.Lock()
	if _, open := v.interactions[id]; open {
		v.zones[id] = contactZones{number: number, tz: tz, names: names}
	}
	v.mu.Unlock()
	return slices.Clone(names)
}
