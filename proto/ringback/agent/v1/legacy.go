package agentv1

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
