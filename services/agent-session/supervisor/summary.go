package supervisor

import (
	"cmp"
	"slices"
	"time"

	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/agent-session/agent"
	"github.com/ringback/ringback/services/agent-session/words"
)

// Summary is the board as a supervisor sees it at one moment.
type Summary struct {
	At       time.Time        `json:"at"`
	Services []ServiceSummary `json:"services"`
	// Agents counts the agents by state and reason (web callback channel).
	Agents []StateCount `json:"agents"`
}

// ServiceSummary is one service's callbacks.
type ServiceSummary struct {
	Service string `json:"service"`
	// Scheduled counts the callbacks scheduled, by the hour they are due,
	// from the start of today on (one due earlier and not yet fired counts
	// in today's first hour).
	Scheduled []HourCount `json:"scheduled"`
	Waiting   int         `json:"waiting"` // due, queued, offered to no one
	// OldestWaitSince is when the longest-waiting callback became due;
	// nil when none waits.
	OldestWaitSince *time.Time `json:"oldest_wait_since,omitempty"`
	OldestWaitSecs  int64      `json:"oldest_wait_seconds"`
	Offered         int        `json:"offered"`
	InProgress      int        `json:"in_progress"`
	// Completed counts today's completed callbacks by outcome (the
	// disposition; "" when none was given).
	Completed map[string]int `json:"completed"`
	Cancelled int            `json:"cancelled"` // today
}

// HourCount is the callbacks due in the hour starting at Hour.
type HourCount struct {
	Hour  time.Time `json:"hour"`
	Count int       `json:"count"`
}

// StateCount is how many agents are in a state with a reason.
type StateCount struct {
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	Count  int    `json:"count"`
}

// AgentRow is one agent's state on web callback.
type AgentRow struct {
	Agent  string    `json:"agent"`
	State  string    `json:"state"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	// Pending is the state a supervisor set during the agent's call
	// ("NOT_READY"), waiting for its end; PendingBy who set it.
	Pending   string   `json:"pending,omitempty"`
	PendingBy string   `json:"pending_by,omitempty"`
	Skills    []string `json:"skills,omitempty"`
}

// Summarize is the board at now; "today" starts at midnight in loc.
// covers says which services the reader may see (nil: every one); an
// agent counts when one of their skills is a service covered, or has no
// skill at all (an agent of every service).
func (b *Board) Summarize(now time.Time, loc *time.Location, covers func(string) bool) Summary {
	y, m, d := now.In(loc).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, loc)
	by := map[string]*ServiceSummary{}
	hours := map[string]map[time.Time]int{}
	for _, c := range b.callbacks {
		if covers != nil && !covers(c.service) {
			continue
		}
		s := by[c.service]
		if s == nil {
			s = &ServiceSummary{Service: c.service, Completed: map[string]int{}, Scheduled: []HourCount{}}
			by[c.service], hours[c.service] = s, map[time.Time]int{}
		}
		switch c.state {
		case callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED:
			h := c.scheduled.Truncate(time.Hour)
			if h.Before(today) {
				h = today
			}
			hours[c.service][h]++
		case callbackv1.CallbackState_CALLBACK_STATE_QUEUED:
			if c.offeredTo != "" {
				s.Offered++
				break
			}
			s.Waiting++
			if s.OldestWaitSince == nil || c.since.Before(*s.OldestWaitSince) {
				since := c.since
				s.OldestWaitSince = &since
			}
		case callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS:
			s.InProgress++
		case callbackv1.CallbackState_CALLBACK_STATE_COMPLETED:
			if !c.since.Before(today) {
				s.Completed[c.disposition]++
			}
		case callbackv1.CallbackState_CALLBACK_STATE_CANCELLED:
			if !c.since.Before(today) {
				s.Cancelled++
			}
		}
	}
	out := Summary{At: now, Services: make([]ServiceSummary, 0, len(by)), Agents: []StateCount{}}
	for name, s := range by {
		for h, n := range hours[name] {
			s.Scheduled = append(s.Scheduled, HourCount{Hour: h, Count: n})
		}
		slices.SortFunc(s.Scheduled, func(a, b HourCount) int { return a.Hour.Compare(b.Hour) })
		if s.OldestWaitSince != nil {
			s.OldestWaitSecs = int64(max(0, now.Sub(*s.OldestWaitSince)/time.Second))
		}
		out.Services = append(out.Services, *s)
	}
	slices.SortFunc(out.Services, func(a, b ServiceSummary) int { return cmp.Compare(a.Service, b.Service) })
	counts := map[StateCount]int{}
	for id, a := range b.agents {
		if !visible(a, covers) {
			continue
		}
		r := row(id, a)
		counts[StateCount{State: r.State, Reason: r.Reason}]++
	}
	for k, n := range counts {
		k.Count = n
		out.Agents = append(out.Agents, k)
	}
	slices.SortFunc(out.Agents, func(a, b StateCount) int {
		return cmp.Or(cmp.Compare(a.State, b.State), cmp.Compare(a.Reason, b.Reason))
	})
	return out
}

// Agents are the rows of ids (every agent when ids is nil) the reader
// may see, by id.
func (b *Board) Agents(ids []string, covers func(string) bool) []AgentRow {
	out := []AgentRow{}
	add := func(id string) {
		if a, ok := b.agents[id]; ok && visible(a, covers) {
			out = append(out, row(id, a))
		}
	}
	if ids == nil {
		for id := range b.agents {
			add(id)
		}
	} else {
		for _, id := range ids {
			add(id)
		}
	}
	slices.SortFunc(out, func(a, b AgentRow) int { return cmp.Compare(a.Agent, b.Agent) })
	return out
}

// Agent is one agent's row, if the board knows them.
func (b *Board) Agent(id string) (AgentRow, bool) {
	a, ok := b.agents[id]
	if !ok {
		return AgentRow{}, false
	}
	return row(id, a), true
}

func visible(a agent.State, covers func(string) bool) bool {
	if covers == nil || len(a.Skills) == 0 {
		return true
	}
	for s := range a.Skills {
		if covers(s) {
			return true
		}
	}
	return false
}

func row(id string, a agent.State) AgentRow {
	r := AgentRow{Agent: id, State: words.LoggedOut}
	for s := range a.Skills {
		r.Skills = append(r.Skills, s)
	}
	slices.Sort(r.Skills)
	if !a.LoggedIn {
		return r
	}
	c := a.Channels[agent.WebCallback]
	r.State, r.Reason, r.Since = words.AgentState(c.State), words.StateReason(c), c.Since
	if c.Pending.Set() {
		r.Pending, r.PendingBy = words.AgentState(c.Pending.State), c.Pending.By
	}
	return r
}
