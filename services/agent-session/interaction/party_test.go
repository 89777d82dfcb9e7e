package interaction

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/proto/catalog"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
)

var (
	agent2            = Party{Agent: "a2", PhoneURI: "sip:a2@h"}
	number            = Party{PhoneNumber: "+14155550100"}
	consultReq        = &agentv1.ConsultRequested{CallId: "k1", Party: &agentv1.Party{AgentId: "a2", PhoneUri: "sip:a2@h"}, At: timestamppb.New(t0)}
	transferReq       = &agentv1.TransferRequested{CallId: "k1", Party: &agentv1.Party{AgentId: "a2", PhoneUri: "sip:a2@h"}, At: timestamppb.New(t0)}
	numberTransferReq = &agentv1.TransferRequested{CallId: "k1", Party: &agentv1.Party{PhoneNumber: "+14155550100"}, At: timestamppb.New(t0)}
	partyStatus       = func(s agentv1.PartyStatus) *agentv1.PartyStatusChanged {
		return &agentv1.PartyStatusChanged{CallId: "k1", Status: s, Party: "a2", At: timestamppb.New(t0)}
	}
	ringing    = partyStatus(PartyRinging)
	consulting = partyStatus(PartyConsulting)
	conference = partyStatus(PartyConference)
	partyLeft  = partyStatus(PartyLeft)
	endReq     = func(c agentv1.ConsultCompletion) *agentv1.ConsultEndRequested {
		return &agentv1.ConsultEndRequested{CallId: "k1", Completion: c, At: timestamppb.New(t0)}
	}
)

const (
	cancel        = agentv1.ConsultCompletion_CONSULT_COMPLETION_CANCEL
	completeTrans = agentv1.ConsultCompletion_CONSULT_COMPLETION_TRANSFER
	confer        = agentv1.ConsultCompletion_CONSULT_COMPLETION_CONFERENCE
)

func TestDecideParty(t *testing.T) {
	open := []proto.Message{presented, acceptReq, accepted}
	live := append(open[:3:3], dialled, connected)
	with := func(es ...proto.Message) []proto.Message { return append(live[:len(live):len(live)], es...) }
	cases := []struct {
		name    string
		given   []proto.Message
		when    Command
		want    []string
		wantErr error
	}{
		// Asking for a party.
		{"transfer connected", live, Transfer{Agent: "a1", Party: agent2, At: t0}, []string{"TransferRequested"}, nil},
		{"consult a number on hold", with(held), Consult{Agent: "a1", Party: number, At: t0}, []string{"ConsultRequested"}, nil},
		{"consult twice is one request", with(consultReq), Consult{Agent: "a1", Party: agent2, At: t0}, nil, nil},
		{"consult while another party is asked", with(consultReq), Consult{Agent: "a1", Party: number, At: t0}, nil, ErrPartyOnCall},
		{"transfer while consulting", with(consultReq, ringing, consulting), Transfer{Agent: "a1", Party: number, At: t0}, nil, ErrPartyOnCall},
		{"transfer before the call", open, Transfer{Agent: "a1", Party: agent2, At: t0}, nil, ErrNotConnected},
		{"consult while establishing", append(open, dialled), Consult{Agent: "a1", Party: agent2, At: t0}, nil, ErrNotConnected},
		{"consult by another agent", live, Consult{Agent: "a3", Party: agent2, At: t0}, nil, ErrNotYours},
		{"consult before accept", []proto.Message{presented}, Consult{Agent: "a1", Party: agent2, At: t0}, nil, ErrNotAccepted},
		{"consult oneself", live, Consult{Agent: "a1", Party: Party{Agent: "a1", PhoneURI: "sip:a1@h"}, At: t0}, nil, ErrSelf},
		{"consult an agent without a phone", live, Consult{Agent: "a1", Party: Party{Agent: "a2"}, At: t0}, nil, ErrNoPhone},
		{"consult after the party left", with(consultReq, ringing, partyLeft), Consult{Agent: "a1", Party: agent2, At: t0}, []string{"ConsultRequested"}, nil},

		// Ending a consultation.
		{"cancel while ringing", with(consultReq, ringing), EndConsult{Agent: "a1", Completion: cancel, At: t0}, []string{"ConsultEndRequested"}, nil},
		{"cancel a blind transfer ringing", with(transferReq, ringing), EndConsult{Agent: "a1", Completion: cancel, At: t0}, []string{"ConsultEndRequested"}, nil},
		{"cancel with no party", live, EndConsult{Agent: "a1", Completion: cancel, At: t0}, nil, ErrNoParty},
		{"cancel before it rings", with(consultReq), EndConsult{Agent: "a1", Completion: cancel, At: t0}, nil, ErrNoParty},
		{"complete transfer consulting", with(consultReq, ringing, consulting), EndConsult{Agent: "a1", Completion: completeTrans, At: t0}, []string{"ConsultEndRequested"}, nil},
		{"complete transfer in conference", with(consultReq, ringing, consulting, conference), EndConsult{Agent: "a1", Completion: completeTrans, At: t0}, []string{"ConsultEndRequested"}, nil},
		{"complete transfer while ringing", with(consultReq, ringing), EndConsult{Agent: "a1", Completion: completeTrans, At: t0}, nil, ErrNotConsulting},
		{"conference consulting", with(consultReq, ringing, consulting), EndConsult{Agent: "a1", Completion: confer, At: t0}, []string{"ConsultEndRequested"}, nil},
		{"conference twice", with(consultReq, ringing, consulting, conference), EndConsult{Agent: "a1", Completion: confer, At: t0}, nil, ErrNotConsulting},
		{"conference clicked twice", with(consultReq, ringing, consulting, endReq(confer)), EndConsult{Agent: "a1", Completion: confer, At: t0}, nil, nil},
		{"drop the party of a conference", with(consultReq, ringing, consulting, conference), EndConsult{Agent: "a1", Completion: cancel, At: t0}, []string{"ConsultEndRequested"}, nil},
		{"end with no completion", with(consultReq, ringing, consulting), EndConsult{Agent: "a1", At: t0}, nil, ErrCompletion},
		{"end consultation of another agent", with(consultReq, ringing, consulting), EndConsult{Agent: "a3", Completion: cancel, At: t0}, nil, ErrNotYours},

		// Other controls while a party is on the call.
		{"hold while a party is asked", with(consultReq), Hold{Agent: "a1", Hold: true, At: t0}, nil, ErrPartyOnCall},
		{"retrieve while consulting", with(held, consultReq, ringing, consulting), Hold{Agent: "a1", At: t0}, nil, ErrPartyOnCall},
		{"retrieve after the party left", with(held, consultReq, ringing, consulting, partyLeft), Hold{Agent: "a1", At: t0}, []string{"HoldRequested"}, nil},
		{"end call while consulting ends it all", with(consultReq, ringing, consulting), EndCall{Agent: "a1", At: t0}, []string{"HangupRequested"}, nil},

		// What the gateway said.
		{"party rings", with(consultReq), PartyProgress{CallID: "k1", Status: PartyRinging, Party: "a2", At: t0}, []string{"PartyStatusChanged"}, nil},
		{"party rings again", with(consultReq, ringing), PartyProgress{CallID: "k1", Status: PartyRinging, Party: "a2", At: t0}, nil, nil},
		{"party of another call", with(consultReq), PartyProgress{CallID: "k0", Status: PartyRinging, At: t0}, nil, nil},
		{"party leaves", with(consultReq, ringing), PartyProgress{CallID: "k1", Status: PartyLeft, Party: "a2", Cause: Cause{Outcome: mediav1.Outcome_OUTCOME_NO_ANSWER}, At: t0}, []string{"PartyStatusChanged"}, nil},
		{"party left with none", live, PartyProgress{CallID: "k1", Party: "a2", At: t0}, nil, nil},
		{"transferred to an agent", with(transferReq, ringing), NoteTransfer{CallID: "k1", Party: "a2", At: t0}, []string{"PartyStatusChanged", "InteractionTransferred"}, nil},
		{"transferred to a number", with(numberTransferReq, ringing), NoteTransfer{CallID: "k1", Party: "+1415***0100", At: t0}, []string{"PartyStatusChanged", "CallStatusChanged"}, nil},
		{"transferred twice", with(transferReq, ringing, partyStatus(PartyTransferred)), NoteTransfer{CallID: "k1", Party: "a2", At: t0}, nil, nil},
		{"transfer failed before ringing", with(transferReq), ControlFailed{CallID: "k1", Action: "transfer", Reason: "no trunk", At: t0}, []string{"CallStatusChanged", "PartyStatusChanged"}, nil},
		{"conference failed", with(consultReq, ringing, consulting, endReq(confer)), ControlFailed{CallID: "k1", Action: "conference", Reason: "x", At: t0}, []string{"CallStatusChanged", "PartyStatusChanged"}, nil},
		{"hold failed is not the party's", with(consultReq, ringing), ControlFailed{CallID: "k1", Action: "hold", Reason: "x", At: t0}, []string{"CallStatusChanged"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := State{}
			for _, e := range c.given {
				s = Evolve(s, e)
			}
			got, err := Decide(s, c.when)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d events, want %v", len(got), c.want)
			}
			for i, e := range got {
				if n := catalog.Short(catalog.TypeName(e)); n != c.want[i] {
					t.Fatalf("event %d = %s, want %s", i, n, c.want[i])
				}
			}
		})
	}
}

func TestBadPartiesNameTheField(t *testing.T) {
	for _, c := range []struct {
		party Party
		field string
	}{
		{Party{}, "agent"},
		{Party{Agent: "a2", PhoneURI: "sip:a2@h", PhoneNumber: "+14155550100"}, "phone_number"},
		{Party{PhoneNumber: "4155550100"}, "phone_number"},
		{Party{PhoneNumber: "+04155550100"}, "phone_number"},
		{Party{PhoneNumber: "+1415555010012345"}, "phone_number"},
		{Party{Agent: "bad id", PhoneURI: "sip:x@h"}, "agent"},
	} {
		var pe *PartyError
		if err := c.party.Validate("a1"); !errors.As(err, &pe) || pe.Field != c.field {
			t.Errorf("%+v: %v, want a PartyError on %s", c.party, err, c.field)
		}
	}
}

// A consultation as the agent sees it, from request to conference to the
// party leaving, and a blind transfer that leaves the agent Ready to Call.
func TestPartyFollowsTheGateway(t *testing.T) {
	s := State{}
	for _, e := range []proto.Message{presented, acceptReq, accepted, dialled, connected, consultReq} {
		s = Evolve(s, e)
	}
	if !s.Third.Asked() || s.Third.Agent != "a2" || s.Third.Purpose != PurposeConsult || s.Third.Status != PartyNone {
		t.Fatalf("after the request: %+v", s.Third)
	}
	s = Evolve(Evolve(s, held), ringing)
	if s.Third.Status != PartyRinging || s.CallStatus != OnHold {
		t.Fatalf("ringing: %+v %q", s.Third, s.CallStatus)
	}
	s = Evolve(Evolve(Evolve(s, consulting), endReq(confer)), connected)
	if s.Third.Ending != confer {
		t.Fatalf("conference asked: %+v", s.Third)
	}
	if s = Evolve(s, conference); s.Third.Status != PartyConference || s.Third.Ending != 0 || s.CallStatus != Connected {
		t.Fatalf("conference: %+v %q", s.Third, s.CallStatus)
	}
	left := &agentv1.PartyStatusChanged{CallId: "k1", Party: "a2", Status: PartyLeft, EndReason: mediav1.EndReason_END_REASON_PARTY_HUNG_UP,
		At: timestamppb.New(t0)}
	if s = Evolve(s, left); s.Third.Asked() || s.PartyCause.End != mediav1.EndReason_END_REASON_PARTY_HUNG_UP || s.CallStatus != Connected {
		t.Fatalf("left: %+v %+v %v", s.Third, s.PartyCause, s.CallStatus)
	}

	s = Evolve(Evolve(s, numberTransferReq), ringing)
	evs, err := Decide(s, NoteTransfer{CallID: "k1", Party: "a2", At: t0})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		s = Evolve(s, e)
	}
	if s.CallStatus != ReadyToCall || s.Cause.TransferredTo != "a2" || s.Third.Status != PartyTransferred {
		t.Fatalf("transferred: %v %+v %+v", s.CallStatus, s.Cause, s.Third)
	}
	// The transferred call's end is not the agent's any more.
	if evs, _ := Decide(s, Progress{CallID: "k1", Status: ReadyToCall, Cause: Cause{End: mediav1.EndReason_END_REASON_CONTACT_HUNG_UP}, At: t0}); len(evs) != 0 {
		t.Fatalf("the transferred call's end: %v", evs)
	}
	if _, err := Decide(s, Call{Agent: "a1", CallID: "k2", PhoneURI: "sip:a1@h", At: t0}); !errors.Is(err, ErrTransferred) {
		t.Fatalf("call again while transferred: %v", err)
	}
	if evs, err := Decide(s, Finish{Agent: "a1", At: t0}); err != nil || len(evs) != 1 {
		t.Fatalf("done after transfer: %v %v", evs, err)
	}
}

// A request the gateway never answered ends with the call.
func TestCallEndClearsAnUnansweredRequest(t *testing.T) {
	s := State{}
	for _, e := range []proto.Message{presented, acceptReq, accepted, dialled, connected, consultReq, ended} {
		s = Evolve(s, e)
	}
	if s.Third.Asked() {
		t.Fatalf("after the call ended: %+v", s.Third)
	}
}

// TestLegacyPartyStatusFolds: PartyStatusChanged stored before the status
// was an enum ("Ringing", "" once the party left) folds as the new one.
func TestLegacyPartyStatusFolds(t *testing.T) {
	legacy := func(status, reason string) *agentv1.PartyStatusChanged {
		return &agentv1.PartyStatusChanged{CallId: "k1", Party: "a2", LegacyStatus: status, LegacyReason: reason, At: timestamppb.New(t0)}
	}
	s := State{}
	for _, e := range []proto.Message{presented, acceptReq, accepted, dialled, connected, consultReq, held, legacy("Ringing", "")} {
		s = Evolve(s, e)
	}
	if s.Third.Status != PartyRinging || s.Third.Name != "a2" {
		t.Fatalf("old ringing: %+v", s.Third)
	}
	if s = Evolve(s, legacy("Consulting", "")); s.Third.Status != PartyConsulting {
		t.Fatalf("old consulting: %+v", s.Third)
	}
	if evs, err := Decide(s, EndConsult{Agent: "a1", Completion: confer, At: t0}); err != nil || len(evs) != 1 {
		t.Fatalf("conference after an old consulting: %v %v", evs, err)
	}
	if s = Evolve(s, legacy("", "a2 hung up")); s.Third.Asked() || s.PartyCause.Legacy != "a2 hung up" {
		t.Fatalf("old left: %+v %+v", s.Third, s.PartyCause)
	}
}
