package agentv1

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// TestLegacyAgentStateChangedReads: the bytes an AgentStateChanged had
// before channel and state were enums (strings in fields 2 and 3) decode
// with today's message and read as the enums; a newer enum value stays as
// it is.
func TestLegacyAgentStateChangedReads(t *testing.T) {
	var old []byte
	old = protowire.AppendTag(old, 1, protowire.BytesType)
	old = protowire.AppendString(old, "a1")
	old = protowire.AppendTag(old, 2, protowire.BytesType)
	old = protowire.AppendString(old, "webcallback")
	old = protowire.AppendTag(old, 3, protowire.BytesType)
	old = protowire.AppendString(old, "AFTER_CALL_WORK")
	old = protowire.AppendTag(old, 4, protowire.BytesType)
	old = protowire.AppendString(old, "After call work")
	var e AgentStateChanged
	if err := proto.Unmarshal(old, &e); err != nil {
		t.Fatal(err)
	}
	if e.ChannelOrLegacy() != Channel_CHANNEL_WEB_CALLBACK || e.StateOrLegacy() != AgentState_AGENT_STATE_AFTER_CALL_WORK ||
		e.GetAgentId() != "a1" || e.GetReason() != "After call work" {
		t.Fatalf("old event reads as %v %v %v", e.ChannelOrLegacy(), e.StateOrLegacy(), &e)
	}
	for _, c := range []struct {
		e       *AgentStateChanged
		channel Channel
		state   AgentState
	}{
		{&AgentStateChanged{Channel: Channel_CHANNEL_VOICE, State: AgentState_AGENT_STATE_READY}, Channel_CHANNEL_VOICE, AgentState_AGENT_STATE_READY},
		{&AgentStateChanged{LegacyChannel: "voice", LegacyState: "NOT_READY"}, Channel_CHANNEL_VOICE, AgentState_AGENT_STATE_NOT_READY},
		{&AgentStateChanged{LegacyChannel: "fax", LegacyState: "SLEEPING"}, Channel_CHANNEL_UNSPECIFIED, AgentState_AGENT_STATE_UNSPECIFIED},
		{&AgentStateChanged{Channel: 9, State: 42, LegacyState: "READY"}, 9, 42},
	} {
		if c.e.ChannelOrLegacy() != c.channel || c.e.StateOrLegacy() != c.state {
			t.Errorf("%v reads as %v %v", c.e, c.e.ChannelOrLegacy(), c.e.StateOrLegacy())
		}
	}
}

// TestLegacyCause: an old event's platform words in reason read as the
// cause (and are no longer the agent's reason); an agent's own word, old
// or new, stays theirs; a new event's reason is never read as a cause.
func TestLegacyCause(t *testing.T) {
	for _, c := range []struct {
		e      *AgentStateChanged
		cause  StateCause
		with   string
		reason string
	}{
		{&AgentStateChanged{LegacyState: "NOT_READY", Reason: "Logged in"}, StateCause_STATE_CAUSE_LOGGED_IN, "", ""},
		{&AgentStateChanged{LegacyState: "BUSY", Reason: "Handling a web callback"}, StateCause_STATE_CAUSE_HANDLING_CALLBACK, "", ""},
		{&AgentStateChanged{LegacyState: "NOT_READY", Reason: "Missed offer"}, StateCause_STATE_CAUSE_MISSED_OFFER, "", ""},
		{&AgentStateChanged{LegacyState: "AFTER_CALL_WORK", Reason: "After call work"}, StateCause_STATE_CAUSE_AFTER_CALL_WORK, "", ""},
		{&AgentStateChanged{LegacyState: "NOT_READY", Reason: "Set by a supervisor", By: "sup"}, StateCause_STATE_CAUSE_SUPERVISOR, "", ""},
		{&AgentStateChanged{LegacyState: "BUSY", Reason: "On a call with a2"}, StateCause_STATE_CAUSE_PARTY, "a2", ""},
		{&AgentStateChanged{LegacyState: "NOT_READY", Reason: "Lunch"}, StateCause_STATE_CAUSE_UNSPECIFIED, "", "Lunch"},
		{&AgentStateChanged{State: AgentState_AGENT_STATE_NOT_READY, Reason: "Missed offer"}, StateCause_STATE_CAUSE_UNSPECIFIED, "", "Missed offer"},
		{&AgentStateChanged{State: AgentState_AGENT_STATE_BUSY, Cause: StateCause_STATE_CAUSE_PARTY, With: "a3"}, StateCause_STATE_CAUSE_PARTY, "a3", ""},
	} {
		cause, with, reason := c.e.CauseOrLegacy()
		if cause != c.cause || with != c.with || reason != c.reason {
			t.Errorf("%v: %v %q %q, want %v %q %q", c.e, cause, with, reason, c.cause, c.with, c.reason)
		}
	}
}
