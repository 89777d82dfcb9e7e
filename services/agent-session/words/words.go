// Package words is what agents and API clients read for the enums the
// events carry: agent state, channel, call status, third-party status and
// why a call or party ended. It is the one table agent-session's HTTP API,
// its event feed and the supervisor's board answer with; the desktop keeps
// its own for what it shows (desktop/static/rules.js), and the tests hold
// both complete.
//
// A value this table does not know (an event from a newer producer) reads
// as Unknown, never as another value and never as a crash.
package words

import (
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	"github.com/ringback/ringback/services/agent-session/agent"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// The API's codes for an agent's state beside the events' ones: LoggedOut
// for an agent with no session, UnknownState for a state this version
// does not know.
const (
	LoggedOut    = "LOGGED_OUT"
	UnknownState = "UNKNOWN"
	// UnknownStatus is a call or party status this version does not know.
	UnknownStatus = "Unknown"
)

// Codes clients send and read: /v1/agents' channels and states
// (api/openapi.yaml AgentState), which the desktop's STATE_WORDS words.
var (
	agentStates = map[agentv1.AgentState]string{
		agentv1.AgentState_AGENT_STATE_READY:           "READY",
		agentv1.AgentState_AGENT_STATE_NOT_READY:       "NOT_READY",
		agentv1.AgentState_AGENT_STATE_BUSY:            "BUSY",
		agentv1.AgentState_AGENT_STATE_AFTER_CALL_WORK: "AFTER_CALL_WORK",
	}
	// agentStateWords are the states as a person reads them (a refusal's
	// detail); the desktop's STATE_WORDS say the same.
	agentStateWords = map[agentv1.AgentState]string{
		agentv1.AgentState_AGENT_STATE_READY:           "Ready",
		agentv1.AgentState_AGENT_STATE_NOT_READY:       "Not Ready",
		agentv1.AgentState_AGENT_STATE_BUSY:            "Busy",
		agentv1.AgentState_AGENT_STATE_AFTER_CALL_WORK: "After Call Work",
	}
	channels = map[agentv1.Channel]string{
		agentv1.Channel_CHANNEL_WEB_CALLBACK: "webcallback",
		agentv1.Channel_CHANNEL_VOICE:        "voice",
	}
)

// The workspace's words, which the API answers in Interaction.status and
// party_status and the desktop compares against (rules.js).
var (
	callStatuses = map[agentv1.CallStatus]string{
		agentv1.CallStatus_CALL_STATUS_READY_TO_CALL: "Ready to Call",
		agentv1.CallStatus_CALL_STATUS_ESTABLISHING:  "Establishing",
		agentv1.CallStatus_CALL_STATUS_CONNECTED:     "Connected",
		agentv1.CallStatus_CALL_STATUS_ON_HOLD:       "On Hold",
	}
	// PARTY_STATUS_LEFT reads as none: a party that left is no party.
	partyStatuses = map[agentv1.PartyStatus]string{
		agentv1.PartyStatus_PARTY_STATUS_RINGING:     "Ringing",
		agentv1.PartyStatus_PARTY_STATUS_CONSULTING:  "Consulting",
		agentv1.PartyStatus_PARTY_STATUS_CONFERENCE:  "Conference",
		agentv1.PartyStatus_PARTY_STATUS_TRANSFERRED: "Transferred",
		agentv1.PartyStatus_PARTY_STATUS_LEFT:        "",
	}
	// outcomes: why a call attempt, or a party, did not connect.
	outcomes = map[mediav1.Outcome]string{
		mediav1.Outcome_OUTCOME_BUSY:              "Busy",
		mediav1.Outcome_OUTCOME_NO_ANSWER:         "No answer",
		mediav1.Outcome_OUTCOME_INVALID_NUMBER:    "Invalid number",
		mediav1.Outcome_OUTCOME_FAILED:            "Call failed",
		mediav1.Outcome_OUTCOME_AGENT_UNAVAILABLE: "Your phone did not answer",
		mediav1.Outcome_OUTCOME_CANCELLED:         "Call cancelled",
		// The gateway found no registration to ring (issue 15): the agent
		// registers their phone, they do not wait for it to be answered.
		mediav1.Outcome_OUTCOME_AGENT_NOT_REGISTERED: "Your phone is not registered",
	}
	// ends: why a connected call ended.
	ends = map[mediav1.EndReason]string{
		mediav1.EndReason_END_REASON_CONTACT_HUNG_UP:  "The contact hung up",
		mediav1.EndReason_END_REASON_AGENT_HUNG_UP:    "Your phone hung up",
		mediav1.EndReason_END_REASON_HANGUP_REQUESTED: "Call ended",
		mediav1.EndReason_END_REASON_GATEWAY_STOPPED:  "Call lost: the media gateway restarted",
		mediav1.EndReason_END_REASON_CALL_LOST:        "Call lost: the media gateway restarted",
		mediav1.EndReason_END_REASON_PARTY_HUNG_UP:    "The party hung up",
		mediav1.EndReason_END_REASON_PARTY_DROPPED:    "The party was dropped",
		mediav1.EndReason_END_REASON_CANCELLED:        "Call cancelled",
		mediav1.EndReason_END_REASON_OTHER:            "Call ended",
		mediav1.EndReason_END_REASON_CALL_ENDED:       "Call ended",
		mediav1.EndReason_END_REASON_SESSION_EXPIRED:  "Call lost: a phone stopped answering",
	}
	// partyEnds: why the party's leg ended, after the party's name.
	partyEnds = map[mediav1.EndReason]string{
		mediav1.EndReason_END_REASON_PARTY_HUNG_UP: " hung up",
		mediav1.EndReason_END_REASON_PARTY_DROPPED: " was dropped",
	}
)

// stateCauses: why the platform set an agent's state, as the agent reads
// it beside the state ("Not Ready (Missed offer)").
var stateCauses = map[agentv1.StateCause]string{
	agentv1.StateCause_STATE_CAUSE_LOGGED_IN:         "Logged in",
	agentv1.StateCause_STATE_CAUSE_HANDLING_CALLBACK: "Handling a web callback",
	agentv1.StateCause_STATE_CAUSE_MISSED_OFFER:      "Missed offer",
	agentv1.StateCause_STATE_CAUSE_AFTER_CALL_WORK:   "After call work",
	agentv1.StateCause_STATE_CAUSE_SUPERVISOR:        "Set by a supervisor",
	agentv1.StateCause_STATE_CAUSE_PARTY:             "On a call with ",
}

// StateReason is why an agent is in their state, as they read it: their
// own (or a supervisor's) word, else the platform's cause.
func StateReason(c agent.ChannelState) string {
	if c.Reason != "" {
		return c.Reason
	}
	w := stateCauses[c.Cause]
	if c.Cause == agentv1.StateCause_STATE_CAUSE_PARTY {
		w += c.With
	}
	return w
}

// AgentState is the API's code for an agent's state on a channel.
func AgentState(s agentv1.AgentState) string {
	if w, ok := agentStates[s]; ok {
		return w
	}
	return UnknownState
}

// AgentStateWords is an agent's state as a person reads it ("Not Ready").
func AgentStateWords(s agentv1.AgentState) string {
	if w, ok := agentStateWords[s]; ok {
		return w
	}
	return "in an unknown state"
}

// ParseAgentState reads a state a client sends ("READY").
func ParseAgentState(code string) (agentv1.AgentState, bool) {
	for s, w := range agentStates {
		if w == code {
			return s, true
		}
	}
	return agentv1.AgentState_AGENT_STATE_UNSPECIFIED, false
}

// Channel is the API's name of a channel ("webcallback"); a channel this
// version does not know reads as its enum name, so that two such stay apart.
func Channel(c agentv1.Channel) string {
	if w, ok := channels[c]; ok {
		return w
	}
	return c.String()
}

// ParseChannel reads a channel a client sends ("webcallback").
func ParseChannel(name string) (agentv1.Channel, bool) {
	for c, w := range channels {
		if w == name {
			return c, true
		}
	}
	return agentv1.Channel_CHANNEL_UNSPECIFIED, false
}

// CallStatus is the call status in the workspace's words; "" before the
// interaction is accepted (no call status yet).
func CallStatus(s agentv1.CallStatus) string {
	if s == agentv1.CallStatus_CALL_STATUS_UNSPECIFIED {
		return ""
	}
	if w, ok := callStatuses[s]; ok {
		return w
	}
	return UnknownStatus
}

// PartyStatus is the third party's status in the workspace's words; ""
// for a party asked for and not rung yet, or none.
func PartyStatus(s agentv1.PartyStatus) string {
	if s == agentv1.PartyStatus_PARTY_STATUS_UNSPECIFIED {
		return ""
	}
	if w, ok := partyStatuses[s]; ok {
		return w
	}
	return UnknownStatus
}

// outcome is why an attempt did not connect, for a value a newer gateway
// may send too.
func outcome(o mediav1.Outcome) string {
	if w, ok := outcomes[o]; ok {
		return w
	}
	return outcomes[mediav1.Outcome_OUTCOME_FAILED]
}

// CallReason is why the call status last changed, as the agent reads it.
func CallReason(c interaction.Cause) string {
	switch {
	case c.Legacy != "":
		return c.Legacy // stored in words before causes were typed
	case c.Outcome != mediav1.Outcome_OUTCOME_UNSPECIFIED:
		return outcome(c.Outcome)
	case c.End != mediav1.EndReason_END_REASON_UNSPECIFIED:
		w, ok := ends[c.End]
		if !ok || c.End == mediav1.EndReason_END_REASON_OTHER {
			w = ends[mediav1.EndReason_END_REASON_OTHER]
			if c.Detail != "" {
				w += ": " + c.Detail
			}
		}
		return w
	case c.TransferredTo != "":
		return "Transferred to " + c.TransferredTo
	case c.TransferredFrom != "":
		return "Transferred from " + c.TransferredFrom
	case c.FailedAction != "":
		return failed(c)
	}
	return ""
}

// PartyReason is why the third party last changed, as the agent reads it.
func PartyReason(c interaction.Cause) string {
	status, who := c.PartyStatus, c.Party
	if who == "" {
		who = "The party"
	}
	switch {
	case c.Legacy != "":
		return c.Legacy
	case c.FailedAction != "":
		return failed(c)
	case c.Outcome == mediav1.Outcome_OUTCOME_AGENT_UNAVAILABLE:
		return who + ": Phone not available"
	case c.Outcome == mediav1.Outcome_OUTCOME_AGENT_NOT_REGISTERED:
		return who + ": Phone not registered"
	case c.Outcome != mediav1.Outcome_OUTCOME_UNSPECIFIED:
		return who + ": " + outcome(c.Outcome)
	case status == agentv1.PartyStatus_PARTY_STATUS_TRANSFERRED:
		return "Transferred to " + who
	case status != agentv1.PartyStatus_PARTY_STATUS_LEFT:
		return ""
	case c.End == mediav1.EndReason_END_REASON_UNSPECIFIED:
		return who + " left"
	}
	if w, ok := partyEnds[c.End]; ok {
		return who + w
	}
	if c.End == mediav1.EndReason_END_REASON_OTHER && c.Detail != "" {
		return who + " left: " + c.Detail
	}
	if w, ok := ends[c.End]; ok {
		return who + " left: " + w
	}
	return who + " left"
}

func failed(c interaction.Cause) string {
	w := "Could not " + c.FailedAction
	if c.Detail != "" {
		w += ": " + c.Detail
	}
	return w
}
