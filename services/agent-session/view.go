package agentsession

import (
	"sort"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
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
}

func newView() *view {
	return &view{agents: map[string]agent.State{}, interactions: map[string]interaction.State{},
		open: map[string]map[string]bool{}, countdown: map[string]bool{}}
}

func (v *view) apply(r eventstore.RecordedEvent, e proto.Message) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if id, ok := strings.CutPrefix(r.Stream, "agent-interaction-"); ok {
		st := interaction.Evolve(v.interactions[id], e)
		if st.Phase == interaction.Offered && !st.AutoAnswer.IsZero() {
			v.countdown[id] = true
		} else {
			delete(v.countdown, id)
		}
		if st.Phase == interaction.Done || st.Phase == interaction.Withdrawn {
			delete(v.interactions, id)
			delete(v.open[st.Agent], id)
			return
		}
		v.interactions[id] = st
		if v.open[st.Agent] == nil {
			v.open[st.Agent] = map[string]bool{}
		}
		v.open[st.Agent][id] = true
		return
	}
	id := strings.TrimPrefix(r.Stream, "agent-")
	v.agents[id] = agent.Evolve(v.agents[id], e)
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
