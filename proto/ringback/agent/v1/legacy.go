package agentv1

import "strings"

// Stores written before AgentStateChanged's channel and state were enums
// hold them as strings, in the fields now legacy_channel and legacy_state.
// Every reader folds an AgentStateChanged through these two, so that such
// a store still replays: the enum when set, else the old string's value
// (unspecified for a string it does not know). Nothing writes the strings
// now.

var (
	legacyChannels = map[string]Channel{"webcallback": Channel_CHANNEL_WEB_CALLBACK, "voice": Channel_CHANNEL_VOICE}
	legacyStates   = map[string]AgentState{"READY": AgentState_AGENT_STATE_READY, "NOT_READY": AgentState_AGENT_STATE_NOT_READY,
		"BUSY": AgentState_AGENT_STATE_BUSY, "AFTER_CALL_WORK": AgentState_AGENT_STATE_AFTER_CALL_WORK}
)

// ChannelOrLegacy is the event's channel, from the enum or the old string.
func (x *AgentStateChanged) ChannelOrLegacy() Channel {
	if c := x.GetChannel(); c != Channel_CHANNEL_UNSPECIFIED {
		return c
	}
	return legacyChannels[x.GetLegacyChannel()]
}

// StateOrLegacy is the event's state, from the enum or the old string.
func (x *AgentStateChanged) StateOrLegacy() AgentState {
	if s := x.GetState(); s != AgentState_AGENT_STATE_UNSPECIFIED {
		return s
	}
	return legacyStates[x.GetLegacyState()]
}

// legacyCauses are the words the platform stored as the reason before
// cause existed.
var legacyCauses = map[string]StateCause{"Logged in": StateCause_STATE_CAUSE_LOGGED_IN,
	"Handling a web callback": StateCause_STATE_CAUSE_HANDLING_CALLBACK, "Missed offer": StateCause_STATE_CAUSE_MISSED_OFFER,
	"After call work": StateCause_STATE_CAUSE_AFTER_CALL_WORK, "Set by a supervisor": StateCause_STATE_CAUSE_SUPERVISOR}

// legacyReserved began the reason of an agent reserved as a third party.
const legacyReserved = "On a call with "

// CauseOrLegacy is why the platform set the state, whom with, and the
// agent's own reason: from cause and with, or for an event stored before
// they existed, from the platform's words in reason (which is then none of
// the agent's).
func (x *AgentStateChanged) CauseOrLegacy() (cause StateCause, with, reason string) {
	if c := x.GetCause(); c != StateCause_STATE_CAUSE_UNSPECIFIED || x.GetState() != AgentState_AGENT_STATE_UNSPECIFIED {
		return c, x.GetWith(), x.GetReason()
	}
	if c, ok := legacyCauses[x.GetReason()]; ok {
		return c, "", ""
	}
	if w, ok := strings.CutPrefix(x.GetReason(), legacyReserved); ok && x.GetLegacyState() == "BUSY" && w != "" {
		return StateCause_STATE_CAUSE_PARTY, w, ""
	}
	return StateCause_STATE_CAUSE_UNSPECIFIED, "", x.GetReason()
}
