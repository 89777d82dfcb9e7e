// Package agent is the pure domain of an agent's session: login, logout and
// the state per channel. Stream agent-<id>.
package agent

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/streams"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
)

// Stream names an agent's stream.
func Stream(id string) string { return streams.AgentSession + id }

// Channels and states, as the events carry them. The words an agent or an
// API client reads for them are agent-session's (words.go) and the
// desktop's.
const (
	WebCallback = agentv1.Channel_CHANNEL_WEB_CALLBACK
	Voice       = agentv1.Channel_CHANNEL_VOICE

	Ready         = agentv1.AgentState_AGENT_STATE_READY
	NotReady      = agentv1.AgentState_AGENT_STATE_NOT_READY
	Busy          = agentv1.AgentState_AGENT_STATE_BUSY
	AfterCallWork = agentv1.AgentState_AGENT_STATE_AFTER_CALL_WORK
)

// Channels an agent has.
var Channels = []agentv1.Channel{WebCallback, Voice}

// State of an agent.
type State struct {
	LoggedIn bool
	PhoneURI string
	Skills   map[string]int32
	Channels map[agentv1.Channel]ChannelState
}

// ChannelState is the agent's state on one channel.
type ChannelState struct {
	State agentv1.AgentState
	// Cause is why the platform set the state (With: whose call, for
	// PARTY); Reason is the agent's or a supervisor's own word.
	Cause  agentv1.StateCause
	With   string
	Reason string
	Since  time.Time
	// Until is when After Call Work ends, as stored with it; zero for an
	// event written before it was stored (AfterCallWorkDue falls back).
	Until time.Time
	// Pending is a supervisor's Not Ready waiting for the agent's call to
	// end (AgentStatePending); zero: none.
	Pending Pending
}

// Pending is a state a supervisor set while the agent was Busy: it replaces
// the next Ready.
type Pending struct {
	State           agentv1.AgentState
	Reason, By, Why string
	At              time.Time
}

// Set says whether a state is pending.
func (p Pending) Set() bool { return p.State != agentv1.AgentState_AGENT_STATE_UNSPECIFIED }

// AfterCallWorkDue is when the agent's After Call Work on web callback
// ends: the stored time, or, for an event stored without one, its start
// plus def. ok is false when the agent is not in After Call Work.
func (s State) AfterCallWorkDue(def time.Duration) (due time.Time, ok bool) {
	c := s.Channels[WebCallback]
	if !s.LoggedIn || c.State != AfterCallWork {
		return time.Time{}, false
	}
	if !c.Until.IsZero() {
		return c.Until, true
	}
	return c.Since.Add(def), true
}

// Commands.
type (
	Login struct {
		Agent    string
		PhoneURI string
		Skills   map[string]int32
		At       time.Time
	}
	Logout struct {
		Agent string
		At    time.Time
		// By is the supervisor who logs the agent out, Why their word for
		// it (issue 14); empty when the agent does.
		By, Why string
	}
	SetState struct {
		Agent   string
		Channel agentv1.Channel
		State   agentv1.AgentState
		// Cause is why the platform sets it; Reason is the agent's (or
		// the supervisor's) own word.
		Cause  agentv1.StateCause
		Reason string
		At     time.Time
		// System is set when the platform, not the agent, changes the state
		// (Busy while handling, After Call Work after Done).
		System bool
		// Until is when an After Call Work the platform sets ends.
		Until time.Time
		// By is the supervisor who forces the state, Why their word for it
		// (issue 14); empty when the agent or the platform sets it.
		By, Why string
	}
	// EndAfterCallWork sets the agent Ready once their After Call Work is
	// due (see AfterCallWorkDue; Default is for events stored without an
	// end). Before, or out of After Call Work, it is nothing to do: any
	// replica may send it at any time, as often as it likes.
	EndAfterCallWork struct {
		Agent   string
		Default time.Duration
		At      time.Time
	}
	// Reserve takes a Ready agent off routing because a colleague (With)
	// transfers a call to them or consults them: Busy, cause PARTY.
	Reserve struct {
		Agent, With string
		At          time.Time
	}
	// Release gives back an agent Reserve took for With, unless something
	// else made them Busy since.
	Release struct {
		Agent, With string
		At          time.Time
	}
)

// Errors.
var (
	ErrNotLoggedIn  = errors.New("agent is not logged in")
	ErrUnknownState = errors.New("unknown state")
	ErrChannel      = errors.New("unknown channel")
	ErrBusy         = errors.New("agent is handling an interaction")
	ErrUnavailable  = errors.New("agent is not available")
)

// UnavailableError is Reserve's refusal of an agent who is not Ready on
// web callback; State is what they are (unspecified: not logged in). It
// matches ErrUnavailable; the words for State are the API's.
type UnavailableError struct {
	Agent string
	State agentv1.AgentState
}

func (e *UnavailableError) Error() string {
	if e.State == agentv1.AgentState_AGENT_STATE_UNSPECIFIED {
		return fmt.Sprintf("%v: %s is not logged in", ErrUnavailable, e.Agent)
	}
	return fmt.Sprintf("%v: %s is not Ready on web callback", ErrUnavailable, e.Agent)
}

func (e *UnavailableError) Unwrap() error { return ErrUnavailable }

// Decide turns a command into events.
func Decide(s State, c Command) ([]proto.Message, error) {
	switch c := c.(type) {
	case Login:
		if s.LoggedIn && s.PhoneURI == c.PhoneURI && maps.Equal(s.Skills, c.Skills) {
			return nil, nil
		}
		out := []proto.Message{&agentv1.AgentLoggedIn{AgentId: c.Agent, PhoneUri: c.PhoneURI, Skills: c.Skills, At: timestamppb.New(c.At)}}
		if !s.LoggedIn {
			// A new session starts Not Ready everywhere: the agent chooses when to work.
			for _, ch := range Channels {
				out = append(out, &agentv1.AgentStateChanged{AgentId: c.Agent, Channel: ch, State: NotReady,
					Cause: agentv1.StateCause_STATE_CAUSE_LOGGED_IN, At: timestamppb.New(c.At)})
			}
		}
		return out, nil
	case Logout:
		if !s.LoggedIn {
			return nil, nil
		}
		for _, ch := range s.Channels {
			if ch.State == Busy {
				return nil, ErrBusy
			}
		}
		return []proto.Message{&agentv1.AgentLoggedOut{AgentId: c.Agent, At: timestamppb.New(c.At), By: c.By, Why: c.Why}}, nil
	case SetState:
		if !s.LoggedIn {
			return nil, ErrNotLoggedIn
		}
		if c.Channel != WebCallback && c.Channel != Voice {
			return nil, fmt.Errorf("%w %d", ErrChannel, c.Channel)
		}
		if _, known := agentv1.AgentState_name[int32(c.State)]; !known || c.State == agentv1.AgentState_AGENT_STATE_UNSPECIFIED {
			return nil, fmt.Errorf("%w %d", ErrUnknownState, c.State)
		}
		cur := s.Channels[c.Channel]
		if !c.System {
			if c.State != Ready && c.State != NotReady {
				return nil, fmt.Errorf("%w: an agent sets Ready or Not Ready", ErrUnknownState)
			}
			if cur.State == Busy && c.Cause == agentv1.StateCause_STATE_CAUSE_SUPERVISOR && c.State == NotReady {
				// A supervisor's Not Ready does not cut the call: it waits
				// for the agent's next Ready (issue 14).
				p := cur.Pending
				if p.State == c.State && p.Reason == c.Reason && p.By == c.By {
					return nil, nil
				}
				return []proto.Message{&agentv1.AgentStatePending{AgentId: c.Agent, Channel: c.Channel, State: c.State,
					Reason: c.Reason, By: c.By, Why: c.Why, At: timestamppb.New(c.At)}}, nil
			}
			if cur.State == Busy {
				return nil, ErrBusy
			}
		}
		if c.State == Ready && cur.Pending.Set() {
			return pendingInstead(c.Agent, c.Channel, cur.Pending, c.At), nil
		}
		if cur.State == c.State && cur.Cause == c.Cause && cur.With == "" && cur.Reason == c.Reason && cur.Until.Equal(c.Until) {
			return nil, nil
		}
		e := &agentv1.AgentStateChanged{AgentId: c.Agent, Channel: c.Channel, State: c.State, Cause: c.Cause, Reason: c.Reason,
			At: timestamppb.New(c.At), By: c.By, Why: c.Why}
		if c.State == AfterCallWork && !c.Until.IsZero() {
			e.Until = timestamppb.New(c.Until)
		}
		return []proto.Message{e}, nil
	case EndAfterCallWork:
		due, ok := s.AfterCallWorkDue(c.Default)
		if !ok || c.At.Before(due) {
			return nil, nil
		}
		if p := s.Channels[WebCallback].Pending; p.Set() {
			return pendingInstead(c.Agent, WebCallback, p, c.At), nil
		}
		return []proto.Message{&agentv1.AgentStateChanged{AgentId: c.Agent, Channel: WebCallback, State: Ready, At: timestamppb.New(c.At)}}, nil
	case Reserve:
		if !s.LoggedIn {
			return nil, &UnavailableError{Agent: c.Agent}
		}
		// Ready on web callback is the router's test too: an agent it may
		// offer a callback to may take a call.
		if cur := s.Channels[WebCallback]; cur.State != Ready {
			return nil, &UnavailableError{Agent: c.Agent, State: cur.State}
		}
		return []proto.Message{&agentv1.AgentStateChanged{AgentId: c.Agent, Channel: WebCallback, State: Busy,
			Cause: agentv1.StateCause_STATE_CAUSE_PARTY, With: c.With, At: timestamppb.New(c.At)}}, nil
	case Release:
		cur := s.Channels[WebCallback]
		if !s.LoggedIn || cur.State != Busy || cur.Cause != agentv1.StateCause_STATE_CAUSE_PARTY || cur.With != c.With {
			return nil, nil
		}
		if cur.Pending.Set() {
			return pendingInstead(c.Agent, WebCallback, cur.Pending, c.At), nil
		}
		return []proto.Message{&agentv1.AgentStateChanged{AgentId: c.Agent, Channel: WebCallback, State: Ready, At: timestamppb.New(c.At)}}, nil
	}
	return nil, fmt.Errorf("agent: unknown command %T", c)
}

// pendingInstead is the supervisor's pending state, set where the agent
// would have become Ready: with their reason, by and why.
func pendingInstead(id string, ch agentv1.Channel, p Pending, at time.Time) []proto.Message {
	return []proto.Message{&agentv1.AgentStateChanged{AgentId: id, Channel: ch, State: p.State,
		Cause: agentv1.StateCause_STATE_CAUSE_SUPERVISOR, Reason: p.Reason, By: p.By, Why: p.Why, At: timestamppb.New(at)}}
}

// Evolve applies one event.
func Evolve(s State, e proto.Message) State {
	switch e := e.(type) {
	case *agentv1.AgentLoggedIn:
		s.LoggedIn, s.PhoneURI, s.Skills = true, e.PhoneUri, e.Skills
	case *agentv1.AgentLoggedOut:
		s.LoggedIn = false
		s.Channels = nil
	case *agentv1.AgentStateChanged:
		chs := make(map[agentv1.Channel]ChannelState, len(s.Channels)+1)
		for k, v := range s.Channels {
			chs[k] = v
		}
		c := ChannelState{State: e.StateOrLegacy(), Since: e.At.AsTime()}
		c.Cause, c.With, c.Reason = e.CauseOrLegacy()
		if e.Until != nil {
			c.Until = e.Until.AsTime()
		}
		ch := e.ChannelOrLegacy()
		if p := chs[ch].Pending; p.State != c.State {
			c.Pending = p // waits on, through After Call Work, until its state is set
		}
		chs[ch] = c
		s.Channels = chs
	case *agentv1.AgentStatePending:
		chs := maps.Clone(s.Channels)
		if chs == nil {
			chs = map[agentv1.Channel]ChannelState{}
		}
		c := chs[e.Channel]
		c.Pending = Pending{State: e.State, Reason: e.Reason, By: e.By, Why: e.Why, At: e.At.AsTime()}
		chs[e.Channel] = c
		s.Channels = chs
	}
	return s
}
