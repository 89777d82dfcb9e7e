package words

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	"github.com/ringback/ringback/services/agent-session/agent"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// values are an enum's values but UNSPECIFIED, as the proto declares them:
// a value added to the proto shows up here without anyone listing it.
func values[E ~int32](d protoreflect.EnumDescriptor) []E {
	var out []E
	for i := range d.Values().Len() {
		if n := d.Values().Get(i).Number(); n != 0 {
			out = append(out, E(n))
		}
	}
	return out
}

// TestEveryValueHasAWord fails when an enum value has no word in this
// table: add the word (and the desktop's, TestDesktopHasEveryWord) with the
// value.
func TestEveryValueHasAWord(t *testing.T) {
	for _, s := range values[agentv1.AgentState](agentv1.AgentState(0).Descriptor()) {
		if _, ok := agentStates[s]; !ok {
			t.Errorf("agent state %v has no API code", s)
		}
		if _, ok := agentStateWords[s]; !ok {
			t.Errorf("agent state %v has no words", s)
		}
		if got, ok := ParseAgentState(AgentState(s)); !ok || got != s {
			t.Errorf("agent state %v does not read back: %v", s, got)
		}
	}
	for _, c := range values[agentv1.StateCause](agentv1.StateCause(0).Descriptor()) {
		if w, ok := stateCauses[c]; !ok || w == "" {
			t.Errorf("state cause %v has no words", c)
		}
	}
	for _, c := range values[agentv1.Channel](agentv1.Channel(0).Descriptor()) {
		if _, ok := channels[c]; !ok {
			t.Errorf("channel %v has no API name", c)
		}
		if got, ok := ParseChannel(Channel(c)); !ok || got != c {
			t.Errorf("channel %v does not read back: %v", c, got)
		}
	}
	for _, s := range values[agentv1.CallStatus](agentv1.CallStatus(0).Descriptor()) {
		if w, ok := callStatuses[s]; !ok || w == "" {
			t.Errorf("call status %v has no words", s)
		}
	}
	for _, s := range values[agentv1.PartyStatus](agentv1.PartyStatus(0).Descriptor()) {
		if _, ok := partyStatuses[s]; !ok {
			t.Errorf("party status %v has no words", s)
		}
	}
	for _, o := range values[mediav1.Outcome](mediav1.Outcome(0).Descriptor()) {
		if w, ok := outcomes[o]; !ok || w == "" {
			t.Errorf("outcome %v has no words", o)
		}
	}
	for _, e := range values[mediav1.EndReason](mediav1.EndReason(0).Descriptor()) {
		if w, ok := ends[e]; !ok || w == "" {
			t.Errorf("end reason %v has no words", e)
		}
	}
}

// TestUnknownValues: a value from a newer producer reads as unknown, not
// as another value, and nothing panics.
func TestUnknownValues(t *testing.T) {
	if got := AgentState(42); got != UnknownState {
		t.Errorf("agent state 42 = %q", got)
	}
	if got := AgentStateWords(42); got != "in an unknown state" {
		t.Errorf("agent state 42 in words = %q", got)
	}
	if got := Channel(42); got == "webcallback" || got == "voice" || got == "" {
		t.Errorf("channel 42 = %q", got)
	}
	if got := CallStatus(42); got != UnknownStatus {
		t.Errorf("call status 42 = %q", got)
	}
	if got := PartyStatus(42); got != UnknownStatus {
		t.Errorf("party status 42 = %q", got)
	}
	if got := CallReason(interaction.Cause{Outcome: 42}); got != "Call failed" {
		t.Errorf("outcome 42 = %q", got)
	}
	if got := CallReason(interaction.Cause{End: 42, Detail: "new thing"}); got != "Call ended: new thing" {
		t.Errorf("end reason 42 = %q", got)
	}
	if _, ok := ParseAgentState("UNKNOWN"); ok {
		t.Error("UNKNOWN reads as a state a client may send")
	}
}

func TestReasons(t *testing.T) {
	left := agentv1.PartyStatus_PARTY_STATUS_LEFT
	cases := []struct {
		name  string
		call  bool
		cause interaction.Cause
		want  string
	}{
		{"busy", true, interaction.Cause{Outcome: mediav1.Outcome_OUTCOME_BUSY}, "Busy"},
		{"agent unavailable", true, interaction.Cause{Outcome: mediav1.Outcome_OUTCOME_AGENT_UNAVAILABLE}, "Your phone did not answer"},
		{"agent not registered", true, interaction.Cause{Outcome: mediav1.Outcome_OUTCOME_AGENT_NOT_REGISTERED}, "Your phone is not registered"},
		{"contact hung up", true, interaction.Cause{End: mediav1.EndReason_END_REASON_CONTACT_HUNG_UP}, "The contact hung up"},
		{"agent hung up", true, interaction.Cause{End: mediav1.EndReason_END_REASON_AGENT_HUNG_UP}, "Your phone hung up"},
		{"gateway stopped", true, interaction.Cause{End: mediav1.EndReason_END_REASON_GATEWAY_STOPPED}, "Call lost: the media gateway restarted"},
		{"other end", true, interaction.Cause{End: mediav1.EndReason_END_REASON_OTHER, Detail: "408 Request Timeout"}, "Call ended: 408 Request Timeout"},
		{"transferred", true, interaction.Cause{TransferredTo: "a2"}, "Transferred to a2"},
		{"transferred in", true, interaction.Cause{TransferredFrom: "a1"}, "Transferred from a1"},
		{"control failed", true, interaction.Cause{FailedAction: "hold", Detail: "488 Not Acceptable Here"}, "Could not hold: 488 Not Acceptable Here"},
		{"an old event's words", true, interaction.Cause{Legacy: "The contact hung up"}, "The contact hung up"},
		{"nothing", true, interaction.Cause{}, ""},

		{"party no answer", false, interaction.Cause{Party: "a2", PartyStatus: left, Outcome: mediav1.Outcome_OUTCOME_NO_ANSWER}, "a2: No answer"},
		{"party phone", false, interaction.Cause{Party: "a2", PartyStatus: left, Outcome: mediav1.Outcome_OUTCOME_AGENT_UNAVAILABLE}, "a2: Phone not available"},
		{"party phone not registered", false, interaction.Cause{Party: "a2", PartyStatus: left, Outcome: mediav1.Outcome_OUTCOME_AGENT_NOT_REGISTERED}, "a2: Phone not registered"},
		{"party dropped", false, interaction.Cause{Party: "a2", PartyStatus: left, End: mediav1.EndReason_END_REASON_PARTY_DROPPED}, "a2 was dropped"},
		{"party hung up", false, interaction.Cause{Party: "a2", PartyStatus: left, End: mediav1.EndReason_END_REASON_PARTY_HUNG_UP}, "a2 hung up"},
		{"party left with the call", false, interaction.Cause{Party: "a2", PartyStatus: left, End: mediav1.EndReason_END_REASON_CONTACT_HUNG_UP}, "a2 left: The contact hung up"},
		{"party left, other", false, interaction.Cause{PartyStatus: left, End: mediav1.EndReason_END_REASON_OTHER, Detail: "call ended"}, "The party left: call ended"},
		{"party left, no reason", false, interaction.Cause{Party: "a2", PartyStatus: left}, "a2 left"},
		{"party transferred", false, interaction.Cause{Party: "a2", PartyStatus: agentv1.PartyStatus_PARTY_STATUS_TRANSFERRED}, "Transferred to a2"},
		{"party ringing", false, interaction.Cause{Party: "a2", PartyStatus: agentv1.PartyStatus_PARTY_STATUS_RINGING}, ""},
		{"party request failed", false, interaction.Cause{Party: "a2", PartyStatus: left, FailedAction: "transfer", Detail: "no route"}, "Could not transfer: no route"},
		{"party, an old event's words", false, interaction.Cause{Party: "a2", PartyStatus: left, Legacy: "a2 hung up"}, "a2 hung up"},
	}
	for _, c := range cases {
		got := PartyReason(c.cause)
		if c.call {
			got = CallReason(c.cause)
		}
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// TestDesktopHasEveryWord fails when the desktop (rules.js) lacks a word
// for a value the API answers: an agent state its STATE_WORDS does not
// word, a call or party status none of its constants is.
func TestDesktopHasEveryWord(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("the desktop's words are checked with Node.js (Debian package nodejs), not installed")
	}
	dir, err := filepath.Abs("../desktop/static")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "--input-type=module", "-")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(`import * as R from './rules.js';
const consts = Object.values(R).filter((v) => typeof v === 'string');
console.log(JSON.stringify({ states: Object.keys(R.STATE_WORDS), consts }));`)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rules.js: %v", err)
	}
	var desk struct{ States, Consts []string }
	if err := json.Unmarshal(out, &desk); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	for _, s := range append(values[agentv1.AgentState](agentv1.AgentState(0).Descriptor()), 42) {
		if w := AgentState(s); !slices.Contains(desk.States, w) {
			t.Errorf("the desktop's STATE_WORDS has no %q", w)
		}
	}
	if !slices.Contains(desk.States, LoggedOut) {
		t.Errorf("the desktop's STATE_WORDS has no %q", LoggedOut)
	}
	for _, s := range values[agentv1.CallStatus](agentv1.CallStatus(0).Descriptor()) {
		if w := CallStatus(s); !slices.Contains(desk.Consts, w) {
			t.Errorf("rules.js has no constant for the call status %q", w)
		}
	}
	for _, s := range values[agentv1.PartyStatus](agentv1.PartyStatus(0).Descriptor()) {
		if w := PartyStatus(s); w != "" && !slices.Contains(desk.Consts, w) {
			t.Errorf("rules.js has no constant for the party status %q", w)
		}
	}
}

func TestStateReason(t *testing.T) {
	party := agentv1.StateCause_STATE_CAUSE_PARTY
	for _, c := range []struct {
		state agent.ChannelState
		want  string
	}{
		{agent.ChannelState{Cause: agentv1.StateCause_STATE_CAUSE_MISSED_OFFER}, "Missed offer"},
		{agent.ChannelState{Cause: party, With: "a1"}, "On a call with a1"},
		{agent.ChannelState{Reason: "Lunch"}, "Lunch"},
		{agent.ChannelState{Cause: agentv1.StateCause_STATE_CAUSE_SUPERVISOR, Reason: "Coaching"}, "Coaching"},
		{agent.ChannelState{Cause: agentv1.StateCause_STATE_CAUSE_SUPERVISOR}, "Set by a supervisor"},
		{agent.ChannelState{Cause: 42}, ""}, // a newer cause: no words rather than wrong ones
		{agent.ChannelState{}, ""},
	} {
		if got := StateReason(c.state); got != c.want {
			t.Errorf("%+v: %q, want %q", c.state, got, c.want)
		}
	}
}

// TestSupervisorPageHasEveryState: the supervisor's page words the agent
// states in its own small table (supervisor/app.js, words()); every code
// the API answers has an entry there.
func TestSupervisorPageHasEveryState(t *testing.T) {
	b, err := os.ReadFile("../desktop/static/supervisor/app.js")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "function words(state) {")
	table, _, _ := strings.Cut(rest, "}[state]")
	if !ok || table == "" {
		t.Fatal("supervisor/app.js has no words(state) table")
	}
	codes := []string{LoggedOut, UnknownState}
	for _, s := range values[agentv1.AgentState](agentv1.AgentState(0).Descriptor()) {
		codes = append(codes, AgentState(s))
	}
	for _, c := range codes {
		if !strings.Contains(table, " "+c+": '") {
			t.Errorf("supervisor/app.js words() has no %s", c)
		}
	}
}
