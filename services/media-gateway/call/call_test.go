package call

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/proto/catalog"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// A forked INVITE's dialogs: one rang, the other answered.
var (
	ringingLeg  = &mediav1.LegDialog{CallId: "c1", To: "<sip:+1@t>;tag=ring", Early: true}
	answeredLeg = &mediav1.LegDialog{CallId: "c1", To: "<sip:+1@t>;tag=answer"}
)

func TestDecide(t *testing.T) {
	started := &mediav1.DialStarted{CallId: "k1", InteractionId: "i1", Instance: "a"}
	connected := &mediav1.CallConnected{CallId: "k1"}
	start := Start{ID: "k1", Interaction: "i1", AgentURI: "sip:a@h", ContactURI: "sip:+1@t", Instance: "a", At: t0}
	cases := []struct {
		name  string
		given []proto.Message
		when  Command
		want  []string
	}{
		{"start dials once", nil, start, []string{"DialStarted"}},
		{"start again is nothing", []proto.Message{started}, start, nil},
		{"agent rings", []proto.Message{started}, Report{Step: AgentRinging, At: t0}, []string{"AgentRinging"}},
		{"contact rings once", []proto.Message{started, &mediav1.ContactRinging{}}, Report{Step: ContactRinging}, nil},
		{"contact rings again in its dialog: nothing", []proto.Message{started, &mediav1.ContactRinging{ContactLeg: ringingLeg}},
			Report{Step: ContactRinging, Legs: map[string]*mediav1.LegDialog{LegContact: ringingLeg}}, nil},
		{"contact answers in another fork's dialog: recorded", []proto.Message{started, &mediav1.ContactRinging{ContactLeg: ringingLeg}},
			Report{Step: ContactRinging, Legs: map[string]*mediav1.LegDialog{LegContact: answeredLeg}}, []string{"ContactRinging"}},
		{"contact answers with no ringing before: recorded", []proto.Message{started, &mediav1.ContactRinging{}},
			Report{Step: ContactRinging, Legs: map[string]*mediav1.LegDialog{LegContact: answeredLeg}}, []string{"ContactRinging"}},
		{"connect", []proto.Message{started}, Report{Step: Connect}, []string{"CallConnected"}},
		{"busy", []proto.Message{started}, Report{Step: Fail, Outcome: mediav1.Outcome_OUTCOME_BUSY, Code: 486}, []string{"DialFailed"}},
		{"failure after connect ends", []proto.Message{started, connected}, Report{Step: Fail}, []string{"CallEnded"}},
		{"end while dialling is cancelled", []proto.Message{started}, Report{Step: End}, []string{"DialFailed"}},
		{"end connected", []proto.Message{started, connected}, Report{Step: End}, []string{"CallEnded"}},
		{"nothing after the end", []proto.Message{started, connected, &mediav1.CallEnded{}}, Report{Step: End}, nil},
		{"report on unknown call", nil, Report{Step: Connect}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := State{}
			for _, e := range c.given {
				s = Evolve(s, e)
			}
			got, err := Decide(s, c.when)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for i, e := range got {
				if n := catalog.Short(catalog.TypeName(e)); n != c.want[i] {
					t.Fatalf("event %d = %s, want %s", i, n, c.want[i])
				}
			}
		})
	}
}

func TestDecideParty(t *testing.T) {
	started := &mediav1.DialStarted{CallId: "k1", InteractionId: "i1", Instance: "a"}
	connected := &mediav1.CallConnected{CallId: "k1"}
	held := &mediav1.CallHeld{Held: true}
	consult := Party{AgentID: "agent2", Display: "agent2", Purpose: mediav1.PartyPurpose_PARTY_PURPOSE_CONSULT}
	blind := Party{Display: "+44*****67", Purpose: mediav1.PartyPurpose_PARTY_PURPOSE_TRANSFER}
	ringing := &mediav1.PartyRinging{PartyAgentId: "agent2", Party: "agent2", Purpose: consult.Purpose}
	ringingBlind := &mediav1.PartyRinging{Party: blind.Display, Purpose: blind.Purpose}
	talking := &mediav1.PartyConnected{}
	partyLegs := map[string]*mediav1.LegDialog{LegParty: answeredLeg}
	answeredParty := &mediav1.PartyAnswered{PartyLeg: answeredLeg}
	earlyLegs := map[string]*mediav1.LegDialog{LegParty: ringingLeg}
	alerting := &mediav1.PartyAlerting{PartyLeg: ringingLeg}
	up := []proto.Message{started, connected}
	with := func(more ...proto.Message) []proto.Message { return append(append([]proto.Message{}, up...), more...) }
	cases := []struct {
		name  string
		given []proto.Message
		when  Report
		want  []string
	}{
		{"ringing holds the contact first", up, Report{Step: PartyRinging, Party: consult}, []string{"CallHeld", "PartyRinging"}},
		{"ringing from hold", with(held), Report{Step: PartyRinging, Party: consult}, []string{"PartyRinging"}},
		{"one party at a time", with(held, ringing), Report{Step: PartyRinging, Party: blind}, nil},
		{"no party before connected", []proto.Message{started}, Report{Step: PartyRinging, Party: consult}, nil},
		{"party's ringing recorded with its early dialog", with(held, ringing), Report{Step: PartyAlert, Legs: earlyLegs}, []string{"PartyAlerting"}},
		{"party's ringing once", with(held, ringing, alerting), Report{Step: PartyAlert, Legs: earlyLegs}, nil},
		{"no ringing without a dialog", with(held, ringing), Report{Step: PartyAlert}, nil},
		{"no ringing after the answer", with(held, ringing, answeredParty), Report{Step: PartyAlert, Legs: earlyLegs}, nil},
		{"no ringing without a party", with(held), Report{Step: PartyAlert, Legs: earlyLegs}, nil},
		{"party's answer recorded with its leg", with(held, ringing), Report{Step: PartyAnswer, Legs: partyLegs}, []string{"PartyAnswered"}},
		{"party's answer replaces its early dialog", with(held, ringing, alerting), Report{Step: PartyAnswer, Legs: partyLegs}, []string{"PartyAnswered"}},
		{"party's answer once per dialog", with(held, ringing, answeredParty), Report{Step: PartyAnswer, Legs: partyLegs}, nil},
		{"no answer without a party", with(held), Report{Step: PartyAnswer, Legs: partyLegs}, nil},
		{"consulted party answers", with(held, ringing), Report{Step: PartyConnected}, []string{"PartyConnected"}},
		{"connected after its answer", with(held, ringing, answeredParty), Report{Step: PartyConnected}, []string{"PartyConnected"}},
		{"blind transfer after the answer", with(held, ringingBlind, answeredParty), Report{Step: Transfer}, []string{"CallTransferred"}},
		{"answers once", with(held, ringing, talking), Report{Step: PartyConnected}, nil},
		{"conference takes the contact off hold", with(held, ringing, talking), Report{Step: Conference}, []string{"CallHeld", "ConferenceStarted"}},
		{"no conference while ringing", with(held, ringing), Report{Step: Conference}, nil},
		{"blind transfer", with(held, ringingBlind), Report{Step: Transfer}, []string{"CallTransferred"}},
		{"consultation completed as transfer", with(held, ringing, talking), Report{Step: Transfer}, []string{"CallTransferred"}},
		{"transferred once", with(held, ringing, talking, &mediav1.CallTransferred{}), Report{Step: Transfer}, nil},
		{"party leaves", with(held, ringing), Report{Step: PartyLeave, Reason: "cancelled"}, []string{"PartyLeft"}},
		{"party leaves even after the end", with(held, ringing, talking, &mediav1.CallEnded{}), Report{Step: PartyLeave}, []string{"PartyLeft"}},
		{"no party, nobody leaves", up, Report{Step: PartyLeave}, nil},
		{"left once", with(held, ringing, &mediav1.PartyLeft{}), Report{Step: PartyLeave}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := State{}
			for _, e := range c.given {
				s = Evolve(s, e)
			}
			got, err := Decide(s, c.when)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range got {
				names = append(names, catalog.Short(catalog.TypeName(e)))
			}
			if !slices.Equal(names, c.want) {
				t.Fatalf("got %v, want %v", names, c.want)
			}
		})
	}
	// The party's id and display travel from the ringing onwards.
	s := State{}
	for _, e := range with(held, ringing, talking) {
		s = Evolve(s, e)
	}
	got, _ := Decide(s, Report{Step: PartyLeave, End: mediav1.EndReason_END_REASON_PARTY_HUNG_UP, Reason: "party hung up"})
	if pl := got[0].(*mediav1.PartyLeft); pl.PartyAgentId != "agent2" || pl.Reason != "party hung up" ||
		pl.EndReason != mediav1.EndReason_END_REASON_PARTY_HUNG_UP {
		t.Errorf("PartyLeft = %v", pl)
	}
}

// TestEndReason: every CallEnded, and the PartyLeft of a party that
// answered, says why in end_reason, the fact the gateway saw; a party that
// never answered says it in its outcome instead.
func TestEndReason(t *testing.T) {
	started := &mediav1.DialStarted{CallId: "k1", InteractionId: "i1", Instance: "a", Holder: "a/1"}
	connected := &mediav1.CallConnected{CallId: "k1"}
	ringing := &mediav1.PartyRinging{PartyAgentId: "agent2", Party: "agent2", Purpose: mediav1.PartyPurpose_PARTY_PURPOSE_CONSULT}
	talking := &mediav1.PartyConnected{}
	const (
		contact = mediav1.EndReason_END_REASON_CONTACT_HUNG_UP
		other   = mediav1.EndReason_END_REASON_OTHER
		lost    = mediav1.EndReason_END_REASON_CALL_LOST
		dropped = mediav1.EndReason_END_REASON_PARTY_DROPPED
		none    = mediav1.EndReason_END_REASON_UNSPECIFIED
	)
	cases := []struct {
		name  string
		given []proto.Message
		when  Command
		want  []mediav1.EndReason // per event that carries one
	}{
		{"the contact hangs up", []proto.Message{started, connected}, Report{Step: End, End: contact, Reason: "contact hung up"}, []mediav1.EndReason{contact}},
		{"an end that does not say is other", []proto.Message{started, connected}, Report{Step: End, Reason: "?"}, []mediav1.EndReason{other}},
		{"a failure after connect is other", []proto.Message{started, connected}, Report{Step: Fail, Reason: "503"}, []mediav1.EndReason{other}},
		{"the party is dropped", []proto.Message{started, connected, ringing, talking}, Report{Step: PartyLeave, End: dropped}, []mediav1.EndReason{dropped}},
		{"the party never answered", []proto.Message{started, connected, ringing}, Report{Step: PartyLeave, Outcome: mediav1.Outcome_OUTCOME_NO_ANSWER, End: dropped}, []mediav1.EndReason{none}},
		{"a lost call, its party too", []proto.Message{started, connected, ringing, talking}, Lose{By: "b", Holder: "b/1", Reason: "gateway restarted"}, []mediav1.EndReason{lost, lost}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := State{}
			for _, e := range c.given {
				s = Evolve(s, e)
			}
			evs, err := Decide(s, c.when)
			if err != nil {
				t.Fatal(err)
			}
			var got []mediav1.EndReason
			for _, e := range evs {
				switch e := e.(type) {
				case *mediav1.CallEnded:
					got = append(got, e.EndReason)
				case *mediav1.PartyLeft:
					got = append(got, e.EndReason)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("end reasons %v, want %v (%v)", got, c.want, evs)
			}
		})
	}
}

// What the gateway did of a request on the live call is recorded by
// Decide from the call as folded: nothing once the call ended (its end is
// what the agent sees); a third party's refusal while the call exists.
func TestDecideControl(t *testing.T) {
	started := &mediav1.DialStarted{CallId: "k1", InteractionId: "i1", Instance: "a"}
	connected := &mediav1.CallConnected{CallId: "k1"}
	ended := &mediav1.CallEnded{CallId: "k1"}
	live := []proto.Message{started, connected}
	cases := []struct {
		name  string
		given []proto.Message
		when  Control
		want  []string
	}{
		{"hold", live, Control{Action: ActionHold, At: t0}, []string{"CallHeld"}},
		{"retrieve", live, Control{Action: ActionRetrieve, At: t0}, []string{"CallHeld"}},
		{"dtmf", live, Control{Action: ActionDTMF, Digits: "12#", At: t0}, []string{"DtmfSent"}},
		{"mute", live, Control{Action: ActionMute, Muted: true, At: t0}, []string{"MuteChanged"}},
		{"record", live, Control{Action: ActionRecord, Location: "/r/k1.wav", At: t0}, []string{"RecordingStarted"}},
		{"stop recording", live, Control{Action: ActionStopRecording, Location: "/r/k1.wav", Duration: time.Minute, At: t0}, []string{"RecordingStopped"}},
		{"hold failed", live, Control{Action: ActionHold, Failed: "no answer to re-INVITE", At: t0}, []string{"CallControlFailed"}},
		{"done after the end", []proto.Message{started, connected, ended}, Control{Action: ActionHold, At: t0}, nil},
		{"failed after the end", []proto.Message{started, connected, ended}, Control{Action: ActionDTMF, Failed: "x", At: t0}, nil},
		{"failed while dialling", []proto.Message{started}, Control{Action: ActionMute, Failed: "x", At: t0}, nil},
		{"party refused while the call exists", []proto.Message{started, connected, ended}, Control{Action: ActionTransfer, Failed: "busy", At: t0}, []string{"CallControlFailed"}},
		{"party refused for no call", nil, Control{Action: ActionConsult, Failed: "x", At: t0}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := State{}
			for _, e := range c.given {
				s = Evolve(s, e)
			}
			got, err := Decide(s, c.when)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for i, e := range got {
				if n := catalog.Short(catalog.TypeName(e)); n != c.want[i] {
					t.Fatalf("event %d = %s, want %s", i, n, c.want[i])
				}
			}
		})
	}
	// What a successful third-party request did is the party's steps' to record.
	if _, err := Decide(Evolve(Evolve(State{}, started), connected), Control{Action: ActionConference, At: t0}); err == nil {
		t.Fatal("a conference done was recorded as a control")
	}
	// The events name the call and interaction as folded, and say what was done.
	got, _ := Decide(Evolve(Evolve(State{}, started), connected), Control{Action: ActionRetrieve, At: t0})
	if h := got[0].(*mediav1.CallHeld); h.Held || h.CallId != "k1" || h.InteractionId != "i1" {
		t.Fatalf("retrieve recorded as %v", h)
	}
}

// A colleague whose phone is their browser is rung with where their
// desktop answers it (issue 15).
func TestPartyRingsABrowser(t *testing.T) {
	s := State{}
	for _, e := range []proto.Message{&mediav1.DialStarted{CallId: "k1", InteractionId: "i1", Instance: "a"}, &mediav1.CallConnected{CallId: "k1"},
		&mediav1.CallHeld{Held: true}} {
		s = Evolve(s, e)
	}
	p := Party{AgentID: "agent2", Display: "agent2", Purpose: mediav1.PartyPurpose_PARTY_PURPOSE_CONSULT, Browser: true, BrowserURL: "https://c.example/media/gw-1"}
	out, err := Decide(s, Report{Step: PartyRinging, Party: p})
	if err != nil || len(out) != 1 {
		t.Fatalf("got %v, %v", out, err)
	}
	r, ok := out[0].(*mediav1.PartyRinging)
	if !ok || !r.Browser || r.BrowserUrl != p.BrowserURL || r.PartyAgentId != "agent2" {
		t.Errorf("PartyRinging = %v, want the browser and its URL", out[0])
	}
}

// The leg on record is the last dialog reported: the one a takeover ends.
func TestContactLegIsTheLastRecorded(t *testing.T) {
	s := State{}
	for _, e := range []proto.Message{&mediav1.DialStarted{CallId: "k1"}, &mediav1.ContactRinging{ContactLeg: ringingLeg},
		&mediav1.ContactRinging{ContactLeg: answeredLeg}} {
		s = Evolve(s, e)
	}
	if s.ContactLeg.GetTo() != answeredLeg.To {
		t.Errorf("contact leg on record: %q, want the answered dialog %q", s.ContactLeg.GetTo(), answeredLeg.To)
	}
}

// A blind transfer's party leg is on record from its answer on: the leg a
// takeover hangs up once the agent's is gone.
// TestRingingPartyLegOnRecord: from its ringing to its answer the party's
// leg on record is the early dialog, then the answered one; gone when it
// leaves.
func TestRingingPartyLegOnRecord(t *testing.T) {
	s := State{}
	for _, e := range []proto.Message{&mediav1.DialStarted{CallId: "k1"}, &mediav1.CallConnected{ContactLeg: answeredLeg, AgentLeg: answeredLeg},
		&mediav1.PartyRinging{Purpose: mediav1.PartyPurpose_PARTY_PURPOSE_CONSULT}, &mediav1.PartyAlerting{PartyLeg: ringingLeg}} {
		s = Evolve(s, e)
	}
	if l := s.Legs()[LegParty]; !l.GetEarly() {
		t.Errorf("a ringing party's leg on record: %v, want its early dialog", l)
	}
	s = Evolve(s, &mediav1.PartyAnswered{PartyLeg: answeredLeg})
	if l := s.Legs()[LegParty]; l.GetEarly() || l.GetTo() != answeredLeg.To {
		t.Errorf("an answered party's leg on record: %v, want its answer's", l)
	}
	s = Evolve(s, &mediav1.PartyLeft{})
	if l := s.Legs()[LegParty]; l != nil {
		t.Errorf("a party that left still has a leg on record: %v", l)
	}
}

func TestBlindTransferKeepsThePartyLeg(t *testing.T) {
	s := State{}
	for _, e := range []proto.Message{&mediav1.DialStarted{CallId: "k1"}, &mediav1.CallConnected{ContactLeg: ringingLeg, AgentLeg: ringingLeg},
		&mediav1.PartyRinging{Purpose: mediav1.PartyPurpose_PARTY_PURPOSE_TRANSFER}, &mediav1.PartyAnswered{PartyLeg: answeredLeg},
		&mediav1.CallTransferred{Blind: true}} {
		s = Evolve(s, e)
	}
	legs := s.Legs()
	if legs[LegParty].GetTo() != answeredLeg.To || legs[LegAgent] != nil || legs[LegContact] == nil {
		t.Errorf("legs on record after a blind transfer: %v, want the contact's and the party's", legs)
	}
}
