package agentsession

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/libs/personal"
	"github.com/ringback/ringback/libs/serviceconf"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	"github.com/ringback/ringback/services/agent-session/agent"
	"github.com/ringback/ringback/services/agent-session/words"
)

// The Team Communicator (issue 15): whom an agent may consult or transfer
// to, searched by name, with each agent's state as this replica's view
// folded it from the store, the services with their Ready agents, and the
// numbers the agent consulted or transferred to lately. Every replica
// folds the same streams, so any replica answers the same.

// maxRecentNumbers is how many numbers an agent's Team Communicator recalls.
const maxRecentNumbers = 10

// maxDirectoryResults bounds each list of an answer.
const maxDirectoryResults = 20

// recentNumber is a number an agent consulted or transferred to.
type recentNumber struct {
	PhoneNumber string    `json:"phone_number"`
	Purpose     string    `json:"purpose"` // consult, transfer
	At          time.Time `json:"at"`
	// key is the key the number was sealed with in the store: that of the
	// contact whose interaction it was asked in. Erasing that contact
	// makes the store read it erased, and the recall forgets it too.
	key string
}

// recentNumbers is a read model of every agent's last numbers, folded from
// the TransferRequested and ConsultRequested events of the interactions'
// streams (where the agent asked it, on whatever replica).
type recentNumbers struct {
	mu    sync.RWMutex
	by    map[string][]recentNumber // agent → newest first, one per number
	known map[string]bool           // services seen in an interaction
}

func newRecentNumbers() *recentNumbers {
	return &recentNumbers{by: map[string][]recentNumber{}, known: map[string]bool{}}
}

// apply folds one event; keyOf names the key of an open interaction's
// contact ("" when unknown or not sealed).
func (n *recentNumbers) apply(m proto.Message, keyOf func(interactionID string) string) {
	var (
		who, number, purpose, interactionID string
		at                                  time.Time
	)
	switch e := m.(type) {
	case *agentv1.TransferRequested:
		who, number, purpose, at, interactionID = e.GetAgentId(), e.GetParty().GetPhoneNumber(), "transfer", e.GetAt().AsTime(), e.GetInteractionId()
	case *agentv1.ConsultRequested:
		who, number, purpose, at, interactionID = e.GetAgentId(), e.GetParty().GetPhoneNumber(), "consult", e.GetAt().AsTime(), e.GetInteractionId()
	case *agentv1.InteractionPresented:
		if svc := e.GetRequest().GetService(); svc != "" {
			n.mu.Lock()
			n.known[svc] = true
			n.mu.Unlock()
		}
		return
	default:
		return
	}
	// A number erased on request (its key destroyed) is not recalled.
	if who == "" || number == "" || number == personal.Erased {
		return
	}
	key := keyOf(interactionID)
	n.mu.Lock()
	defer n.mu.Unlock()
	list := slices.DeleteFunc(n.by[who], func(r recentNumber) bool { return r.PhoneNumber == number })
	list = append([]recentNumber{{PhoneNumber: number, Purpose: purpose, At: at, key: key}}, list...)
	n.by[who] = list[:min(len(list), maxRecentNumbers)]
}

// forget drops every agent's recent numbers sealed with key.
func (n *recentNumbers) forget(key string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	dropped := 0
	for who, list := range n.by {
		before := len(list)
		list = slices.DeleteFunc(list, func(r recentNumber) bool { return r.key == key })
		dropped += before - len(list)
		if len(list) == 0 {
			delete(n.by, who)
		} else {
			n.by[who] = list
		}
	}
	return dropped
}

// contactKey names the key of an open interaction's contact, with which
// the store seals what is asked in it; "" when personal data is not sealed.
func (s *Service) contactKey(interactionID string) string {
	if s.deps.ContactKeys == nil {
		return ""
	}
	st, ok := s.view.interaction(interactionID)
	if !ok || st.Request.GetPhoneNumber() == "" || st.Request.GetPhoneNumber() == personal.Erased {
		return ""
	}
	return s.deps.ContactKeys.KeyID(st.Request.GetPhoneNumber())
}

// forgetErased: a contact was erased on request. The numbers asked in
// their interactions, folded while the key lived, read erased in the store
// from now on: the Team Communicator must not recall them either.
func (s *Service) forgetErased(e *historyv1.ContactErased) {
	if e.GetKeyId() == "" {
		return
	}
	n := s.recent.forget(e.GetKeyId())
	if n > 0 {
		s.deps.Log.Info("forgot an erased contact's number in the agents' recent numbers", "entries", n)
	}
}

func (n *recentNumbers) of(agentID string) []recentNumber {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return slices.Clone(n.by[agentID])
}

func (n *recentNumbers) services() []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]string, 0, len(n.known))
	for s := range n.known {
		out = append(out, s)
	}
	return out
}

// directoryAgent is an agent as the Team Communicator lists them.
type directoryAgent struct {
	ID     string     `json:"id"`
	Name   string     `json:"name,omitempty"`
	State  string     `json:"state"` // on web callback: READY, NOT_READY, BUSY, AFTER_CALL_WORK, LOGGED_OUT
	Reason string     `json:"reason,omitempty"`
	Since  *time.Time `json:"since,omitempty"`
}

// directoryService is a service (a queue) with the agents Ready for it;
// agent is the one a consult or transfer to the service reaches: the one
// Ready the longest, as the router would choose.
type directoryService struct {
	Name  string `json:"name"`
	Ready int    `json:"ready"`
	Agent string `json:"agent,omitempty"`
}

type directoryAnswer struct {
	Agents   []directoryAgent   `json:"agents"`
	Services []directoryService `json:"services"`
	Numbers  []recentNumber     `json:"numbers"`
}

// stateOrder lists the agents one can reach first.
var stateOrder = map[string]int{
	words.AgentState(agent.Ready): 0, words.AgentState(agent.NotReady): 1, words.AgentState(agent.AfterCallWork): 2,
	words.AgentState(agent.Busy): 3, words.LoggedOut: 4,
}

// directory answers GET /v1/directory?q=: every word of q found in an
// agent's id, name or state, a service's name or a recent number.
func (s *Service) directory(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query().Get("q")
	if len(q) > 100 {
		return httpx.BadField("q", "must be at most 100 bytes")
	}
	me, err := s.caller(w, r)
	if err != nil {
		return err
	}
	terms := strings.Fields(strings.ToLower(q))
	match := func(hay ...string) bool {
		h := strings.ToLower(strings.Join(hay, " "))
		for _, w := range terms {
			if !strings.Contains(h, w) {
				return false
			}
		}
		return true
	}
	ans := directoryAnswer{Agents: []directoryAgent{}, Services: []directoryService{}, Numbers: []recentNumber{}}
	all := s.view.allAgents()
	for id, a := range all {
		if id == me {
			continue
		}
		name := ""
		if c := s.agents.Get(id); c != nil {
			name = c.Name
		}
		state, reason := words.LoggedOut, ""
		c, ok := a.Channels[agent.WebCallback]
		if ok = ok && a.LoggedIn; ok {
			state, reason = words.AgentState(c.State), words.StateReason(c)
		}
		// "ready" or "not ready" finds agents by state too.
		if !match(id, name, strings.ReplaceAll(state, "_", " ")) {
			continue
		}
		d := directoryAgent{ID: id, Name: name, State: state, Reason: reason}
		if ok && !c.Since.IsZero() {
			d.Since = &c.Since
		}
		ans.Agents = append(ans.Agents, d)
	}
	slices.SortFunc(ans.Agents, func(a, b directoryAgent) int {
		return cmp.Or(cmp.Compare(stateOrder[a.State], stateOrder[b.State]), cmp.Compare(a.ID, b.ID))
	})
	ans.Agents = ans.Agents[:min(len(ans.Agents), maxDirectoryResults)]

	names := append(s.cfg.ServiceSet.Names(), s.recent.services()...)
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		if !match(name) {
			continue
		}
		ans.Services = append(ans.Services, readyFor(s.cfg.ServiceSet.Of(name), all, me))
	}
	ans.Services = ans.Services[:min(len(ans.Services), maxDirectoryResults)]
	for _, n := range s.recent.of(me) {
		if match(n.PhoneNumber) {
			ans.Numbers = append(ans.Numbers, n)
		}
	}
	httpx.WriteJSON(w, http.StatusOK, ans)
	return nil
}

// readyFor is a service with the agents Ready on web callback who have its
// skills, other than me.
func readyFor(svc serviceconf.Service, all map[string]agent.State, me string) directoryService {
	d := directoryService{Name: svc.Name}
	var since time.Time
	for id, a := range all {
		c := a.Channels[agent.WebCallback]
		if id == me || !a.LoggedIn || c.State != agent.Ready || !hasSkills(a.Skills, svc.Skills) {
			continue
		}
		d.Ready++
		if d.Agent == "" || c.Since.Before(since) || (c.Since.Equal(since) && id < d.Agent) {
			d.Agent, since = id, c.Since
		}
	}
	return d
}

func hasSkills(have, need map[string]int32) bool {
	for skill, level := range need {
		if have[skill] < level {
			return false
		}
	}
	return true
}

// caller is the agent asking: the token's, else (an open platform) the
// X-Ringback-Agent header the desktop sends.
func (s *Service) caller(w http.ResponseWriter, r *http.Request) (string, error) {
	if who, err := s.who(w, r); err != nil || who != "" {
		return who, err
	}
	if p := agentauth.Who(r.Context()); p.ID != "" {
		return p.ID, nil
	}
	a := r.Header.Get("X-Ringback-Agent")
	if a != "" && !agentauth.ValidID(a) {
		return "", httpx.BadField("X-Ringback-Agent", "not an agent id")
	}
	return a, nil
}

// responses answers GET /v1/responses?service=&q=: the service's Standard
// Response Library (the services file's responses), searched.
func (s *Service) responses(w http.ResponseWriter, r *http.Request) error {
	service, q := r.URL.Query().Get("service"), r.URL.Query().Get("q")
	if !serviceconf.ServiceName.MatchString(service) {
		return httpx.BadField("service", "required: a service name, lower-case letters, digits and dashes")
	}
	if len(q) > 100 {
		return httpx.BadField("q", "must be at most 100 bytes")
	}
	type response struct {
		Name string   `json:"name"`
		Text string   `json:"text"`
		Tags []string `json:"tags"`
	}
	out := []response{}
	for _, rs := range s.cfg.ServiceSet.Of(service).Search(q) {
		out = append(out, response{Name: rs.Name, Text: rs.Text, Tags: append([]string{}, rs.Tags...)})
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"service": service, "responses": out})
	return nil
}

// allAgents is every agent the view knows; the states are copied on write
// (agent.Evolve makes a new Channels map), so they may be read unlocked.
func (v *view) allAgents() map[string]agent.State {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make(map[string]agent.State, len(v.agents))
	for id, a := range v.agents {
		out[id] = a
	}
	return out
}
