package agent

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func TestDecide(t *testing.T) {
	in := &agentv1.AgentLoggedIn{AgentId: "a1", PhoneUri: "sip:a1@h"}
	ready := &agentv1.AgentStateChanged{AgentId: "a1", Channel: WebCallback, State: Ready}
	busy := &agentv1.AgentStateChanged{AgentId: "a1", Channel: WebCallback, State: Busy}
	reserved := &agentv1.AgentStateChanged{AgentId: "a1", Channel: WebCallback, State: Busy, Cause: agentv1.StateCause_STATE_CAUSE_PARTY, With: "a2"}
	// As stored before causes were typed: the platform's words in reason.
	legacyReserved := &agentv1.AgentStateChanged{AgentId: "a1", LegacyChannel: "webcallback", LegacyState: "BUSY", Reason: "On a call with a2"}
	ownBusyWords := &agentv1.AgentStateChanged{AgentId: "a1", Channel: WebCallback, State: Busy, Reason: "On a call with a2"}
	legacyReady := &agentv1.AgentStateChanged{AgentId: "a1", LegacyChannel: "webcallback", LegacyState: "READY"}
	cases := []struct {
		name    string
		given   []proto.Message
		when    Command
		want    int
		wantErr error
	}{
		{"login starts not ready on each channel", nil, Login{Agent: "a1", PhoneURI: "sip:a1@h", At: t0}, 3, nil},
		{"missed offer", []proto.Message{in, ready}, SetState{Agent: "a1", Channel: WebCallback, State: NotReady,
			Cause: agentv1.StateCause_STATE_CAUSE_MISSED_OFFER, At: t0, System: true}, 1, nil},
		{"missed offer again", []proto.Message{in, &agentv1.AgentStateChanged{AgentId: "a1", Channel: WebCallback, State: NotReady,
			Cause: agentv1.StateCause_STATE_CAUSE_MISSED_OFFER}}, SetState{Agent: "a1", Channel: WebCallback, State: NotReady,
			Cause: agentv1.StateCause_STATE_CAUSE_MISSED_OFFER, At: t0, System: true}, 0, nil},
		{"missed offer as an old store has it", []proto.Message{in, &agentv1.AgentStateChanged{AgentId: "a1", LegacyChannel: "webcallback",
			LegacyState: "NOT_READY", Reason: "Missed offer"}}, SetState{Agent: "a1", Channel: WebCallback, State: NotReady,
			Cause: agentv1.StateCause_STATE_CAUSE_MISSED_OFFER, At: t0, System: true}, 0, nil},
		{"login again same phone", []proto.Message{in}, Login{Agent: "a1", PhoneURI: "sip:a1@h", At: t0}, 0, nil},
		{"login with a new phone", []proto.Message{in}, Login{Agent: "a1", PhoneURI: "sip:a1@other", At: t0}, 1, nil},
		{"ready needs login", nil, SetState{Agent: "a1", Channel: WebCallback, State: Ready, At: t0}, 0, ErrNotLoggedIn},
		{"ready", []proto.Message{in}, SetState{Agent: "a1", Channel: WebCallback, State: Ready, At: t0}, 1, nil},
		{"ready twice", []proto.Message{in, ready}, SetState{Agent: "a1", Channel: WebCallback, State: Ready, At: t0}, 0, nil},
		{"unknown channel", []proto.Message{in}, SetState{Agent: "a1", Channel: 7, State: Ready, At: t0}, 0, ErrChannel},
		{"no channel", []proto.Message{in}, SetState{Agent: "a1", State: Ready, At: t0}, 0, ErrChannel},
		{"no state", []proto.Message{in}, SetState{Agent: "a1", Channel: WebCallback, At: t0, System: true}, 0, ErrUnknownState},
		{"a state from a newer producer", []proto.Message{in}, SetState{Agent: "a1", Channel: WebCallback, State: 42, At: t0, System: true}, 0, ErrUnknownState},
		{"agent cannot set busy", []proto.Message{in}, SetState{Agent: "a1", Channel: WebCallback, State: Busy, At: t0}, 0, ErrUnknownState},
		{"platform sets busy", []proto.Message{in, ready}, SetState{Agent: "a1", Channel: WebCallback, State: Busy, At: t0, System: true}, 1, nil},
		{"not ready while busy", []proto.Message{in, busy}, SetState{Agent: "a1", Channel: WebCallback, State: NotReady, At: t0}, 0, ErrBusy},
		{"logout while busy", []proto.Message{in, busy}, Logout{Agent: "a1", At: t0}, 0, ErrBusy},
		{"logout", []proto.Message{in, ready}, Logout{Agent: "a1", At: t0}, 1, nil},
		{"a supervisor forces not ready", []proto.Message{in, ready}, SetState{Agent: "a1", Channel: WebCallback, State: NotReady, Reason: "Coaching", By: "sup", Why: "queue review", At: t0}, 1, nil},
		{"a supervisor forces not ready mid-call: pending", []proto.Message{in, busy}, SetState{Agent: "a1", Channel: WebCallback, State: NotReady,
			Cause: agentv1.StateCause_STATE_CAUSE_SUPERVISOR, By: "sup", At: t0}, 1, nil},
		{"a supervisor logs out", []proto.Message{in, ready}, Logout{Agent: "a1", By: "sup", Why: "left for the day", At: t0}, 1, nil},
		{"logout twice", nil, Logout{Agent: "a1", At: t0}, 0, nil},
		{"reserve ready", []proto.Message{in, ready}, Reserve{Agent: "a1", With: "a2", At: t0}, 1, nil},
		{"reserve logged out", nil, Reserve{Agent: "a1", With: "a2", At: t0}, 0, ErrUnavailable},
		{"reserve not ready", []proto.Message{in}, Reserve{Agent: "a1", With: "a2", At: t0}, 0, ErrUnavailable},
		{"reserve busy", []proto.Message{in, busy}, Reserve{Agent: "a1", With: "a2", At: t0}, 0, ErrUnavailable},
		{"reserve ready from an old store", []proto.Message{in, legacyReady}, Reserve{Agent: "a1", With: "a2", At: t0}, 1, nil},
		{"release reserved", []proto.Message{in, reserved}, Release{Agent: "a1", With: "a2", At: t0}, 1, nil},
		{"release busy for another reason", []proto.Message{in, busy}, Release{Agent: "a1", With: "a2", At: t0}, 0, nil},
		{"release reserved for another", []proto.Message{in, reserved}, Release{Agent: "a1", With: "a3", At: t0}, 0, nil},
		{"release reserved in an old store", []proto.Message{in, legacyReserved}, Release{Agent: "a1", With: "a2", At: t0}, 1, nil},
		{"release busy with a reason that only reads the same", []proto.Message{in, ownBusyWords}, Release{Agent: "a1", With: "a2", At: t0}, 0, nil},
		{"release twice", []proto.Message{in, reserved, ready}, Release{Agent: "a1", With: "a2", At: t0}, 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := State{}
			for _, e := range c.given {
				s = Evolve(s, e)
			}
			got, err := Decide(s, c.when)
			if !errors.Is(err, c.wantErr) || len(got) != c.want {
				t.Fatalf("got %d events, err %v; want %d, %v", len(got), err, c.want, c.wantErr)
			}
			for _, e := range got {
				if id := e.ProtoReflect().Get(e.ProtoReflect().Descriptor().Fields().ByName("agent_id")).String(); id != "a1" {
					t.Fatalf("%T without the agent id", e)
				}
				// A supervisor's command is recorded with who and why.
				var by, why string
				switch w := c.when.(type) {
				case SetState:
					by, why = w.By, w.Why
				case Logout:
					by, why = w.By, w.Why
				}
				f := e.ProtoReflect().Descriptor().Fields()
				if b, y := f.ByName("by"), f.ByName("why"); b != nil && (e.ProtoReflect().Get(b).String() != by || e.ProtoReflect().Get(y).String() != why) {
					t.Fatalf("%T does not record by %q why %q: %v", e, by, why, e)
				}
			}
		})
	}
}

// TestEndAfterCallWork: After Call Work ends at the stored time, whoever
// asks and however often; an event stored without an end falls back to its
// start plus the configured time.
func TestEndAfterCallWork(t *testing.T) {
	in := &agentv1.AgentLoggedIn{AgentId: "a1"}
	until := timestamppb.New(t0.Add(30 * time.Second))
	acw := &agentv1.AgentStateChanged{AgentId: "a1", Channel: WebCallback, State: AfterCallWork, At: timestamppb.New(t0), Until: until}
	legacy := &agentv1.AgentStateChanged{AgentId: "a1", Channel: WebCallback, State: AfterCallWork, At: timestamppb.New(t0)}
	ready := &agentv1.AgentStateChanged{AgentId: "a1", Channel: WebCallback, State: Ready, At: timestamppb.New(t0.Add(time.Second))}
	end := func(at time.Duration) EndAfterCallWork {
		return EndAfterCallWork{Agent: "a1", Default: time.Minute, At: t0.Add(at)}
	}
	cases := []struct {
		name  string
		given []proto.Message
		when  Command
		want  int
	}{
		{"before the stored end", []proto.Message{in, acw}, end(29 * time.Second), 0},
		{"at the stored end", []proto.Message{in, acw}, end(30 * time.Second), 1},
		{"long after (a restart)", []proto.Message{in, acw}, end(24 * time.Hour), 1},
		{"already ended", []proto.Message{in, acw, ready}, end(time.Hour), 0},
		{"logged out meanwhile", []proto.Message{in, acw, &agentv1.AgentLoggedOut{AgentId: "a1"}}, end(time.Hour), 0},
		{"never in after call work", []proto.Message{in}, end(time.Hour), 0},
		{"stored without an end: default not yet", []proto.Message{in, legacy}, end(59 * time.Second), 0},
		{"stored without an end: default reached", []proto.Message{in, legacy}, end(time.Minute), 1},
		{"after call work records its end", []proto.Message{in}, SetState{Agent: "a1", Channel: WebCallback, State: AfterCallWork,
			At: t0, System: true, Until: t0.Add(30 * time.Second)}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := State{}
			for _, e := range c.given {
				s = Evolve(s, e)
			}
			got, err := Decide(s, c.when)
			if err != nil || len(got) != c.want {
				t.Fatalf("got %d events, err %v; want %d", len(got), err, c.want)
			}
			for _, e := range got {
				sc := e.(*agentv1.AgentStateChanged)
				switch sc.State {
				case Ready:
					if sc.Until != nil {
						t.Fatalf("Ready with an end: %v", sc)
					}
				case AfterCallWork:
					if !sc.Until.AsTime().Equal(until.AsTime()) {
						t.Fatalf("until = %v, want %v", sc.Until.AsTime(), until.AsTime())
					}
					if due, ok := Evolve(s, sc).AfterCallWorkDue(time.Hour); !ok || !due.Equal(until.AsTime()) {
						t.Fatalf("due = %v %v", due, ok)
					}
				}
			}
		})
	}
}

// TestEvolveLegacy: an AgentStateChanged stored before channel and state
// were enums (strings in the fields now legacy_*) folds as the enum would;
// a newer producer's unknown state folds as that value, not as another.
func TestEvolveLegacy(t *testing.T) {
	in := &agentv1.AgentLoggedIn{AgentId: "a1"}
	cases := []struct {
		name    string
		event   *agentv1.AgentStateChanged
		channel agentv1.Channel
		state   agentv1.AgentState
	}{
		{"old ready", &agentv1.AgentStateChanged{LegacyChannel: "webcallback", LegacyState: "READY"}, WebCallback, Ready},
		{"old not ready on voice", &agentv1.AgentStateChanged{LegacyChannel: "voice", LegacyState: "NOT_READY"}, Voice, NotReady},
		{"old busy", &agentv1.AgentStateChanged{LegacyChannel: "webcallback", LegacyState: "BUSY"}, WebCallback, Busy},
		{"old after call work", &agentv1.AgentStateChanged{LegacyChannel: "webcallback", LegacyState: "AFTER_CALL_WORK"}, WebCallback, AfterCallWork},
		{"new", &agentv1.AgentStateChanged{Channel: Voice, State: Busy}, Voice, Busy},
		{"the enum wins over a string", &agentv1.AgentStateChanged{Channel: Voice, State: Ready, LegacyChannel: "webcallback", LegacyState: "BUSY"}, Voice, Ready},
		{"a newer state", &agentv1.AgentStateChanged{Channel: WebCallback, State: 42}, WebCallback, 42},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := Evolve(Evolve(State{}, in), c.event)
			got, ok := s.Channels[c.channel]
			if !ok || got.State != c.state || len(s.Channels) != 1 {
				t.Fatalf("channels = %v, want %v %v", s.Channels, c.channel, c.state)
			}
		})
	}
}

// A supervisor's Not Ready while the agent is on a call waits for the call
// (issue 14): it replaces the Ready that follows, whichever way it comes,
// with the supervisor's reason, and the agent choosing Not Ready
// themselves ends it.
func TestNotReadyAfterThisCall(t *testing.T) {
	in := &agentv1.AgentLoggedIn{AgentId: "a1", PhoneUri: "sip:a1@h"}
	busy := &agentv1.AgentStateChanged{AgentId: "a1", Channel: WebCallback, State: Busy, At: timestamppb.New(t0)}
	reserved := &agentv1.AgentStateChanged{AgentId: "a1", Channel: WebCallback, State: Busy, Cause: agentv1.StateCause_STATE_CAUSE_PARTY,
		With: "a2", At: timestamppb.New(t0)}
	pending := &agentv1.AgentStatePending{AgentId: "a1", Channel: WebCallback, State: NotReady, Reason: "Coaching", By: "sup",
		Why: "queue review", At: timestamppb.New(t0)}
	acw := &agentv1.AgentStateChanged{AgentId: "a1", Channel: WebCallback, State: AfterCallWork, Until: timestamppb.New(t0.Add(time.Minute)),
		At: timestamppb.New(t0)}
	force := SetState{Agent: "a1", Channel: WebCallback, State: NotReady, Cause: agentv1.StateCause_STATE_CAUSE_SUPERVISOR, Reason: "Coaching",
		By: "sup", Why: "queue review", At: t0}
	later := t0.Add(2 * time.Minute)
	supervisors := &agentv1.AgentStateChanged{AgentId: "a1", Channel: WebCallback, State: NotReady, Cause: agentv1.StateCause_STATE_CAUSE_SUPERVISOR,
		Reason: "Coaching", By: "sup", Why: "queue review", At: timestamppb.New(later)}
	cases := []struct {
		name    string
		given   []proto.Message
		when    Command
		want    []proto.Message
		wantErr error
	}{
		{"forced mid-call", []proto.Message{in, busy}, force, []proto.Message{pending}, nil},
		{"forced again", []proto.Message{in, busy, pending}, force, nil, nil},
		{"forced while taken for a colleague's call", []proto.Message{in, reserved}, force, []proto.Message{pending}, nil},
		{"after call work begins: still pending", []proto.Message{in, busy, pending},
			SetState{Agent: "a1", Channel: WebCallback, State: AfterCallWork, Until: t0.Add(time.Minute), At: t0, System: true}, []proto.Message{acw}, nil},
		{"after call work ends: Not Ready instead of Ready", []proto.Message{in, busy, pending, acw},
			EndAfterCallWork{Agent: "a1", At: later}, []proto.Message{supervisors}, nil},
		{"the agent clicks Ready in after call work", []proto.Message{in, busy, pending, acw},
			SetState{Agent: "a1", Channel: WebCallback, State: Ready, At: later}, []proto.Message{supervisors}, nil},
		{"the colleague's call ends", []proto.Message{in, reserved, pending}, Release{Agent: "a1", With: "a2", At: later}, []proto.Message{supervisors}, nil},
		{"set: Ready is Ready again", []proto.Message{in, busy, pending, acw, supervisors},
			SetState{Agent: "a1", Channel: WebCallback, State: Ready, At: later},
			[]proto.Message{&agentv1.AgentStateChanged{AgentId: "a1", Channel: WebCallback, State: Ready, At: timestamppb.New(later)}}, nil},
		{"the agent chose Not Ready themselves: no longer pending", []proto.Message{in, busy, pending, acw,
			&agentv1.AgentStateChanged{AgentId: "a1", Channel: WebCallback, State: NotReady, Reason: "Break"}},
			SetState{Agent: "a1", Channel: WebCallback, State: Ready, At: later},
			[]proto.Message{&agentv1.AgentStateChanged{AgentId: "a1", Channel: WebCallback, State: Ready, At: timestamppb.New(later)}}, nil},
		{"logged out and in again: none", []proto.Message{in, busy, pending, acw, &agentv1.AgentLoggedOut{AgentId: "a1"}, in,
			&agentv1.AgentStateChanged{AgentId: "a1", Channel: WebCallback, State: NotReady}},
			SetState{Agent: "a1", Channel: WebCallback, State: Ready, At: later},
			[]proto.Message{&agentv1.AgentStateChanged{AgentId: "a1", Channel: WebCallback, State: Ready, At: timestamppb.New(later)}}, nil},
		{"the agent still may not go Not Ready mid-call", []proto.Message{in, busy, pending},
			SetState{Agent: "a1", Channel: WebCallback, State: NotReady, At: later}, nil, ErrBusy},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := State{}
			for _, e := range c.given {
				s = Evolve(s, e)
			}
			got, err := Decide(s, c.when)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err %v, want %v", err, c.wantErr)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for i := range got {
				if !proto.Equal(got[i], c.want[i]) {
					t.Errorf("event %d: got %v, want %v", i, got[i], c.want[i])
				}
			}
		})
	}
}
