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

// moved is the interaction of a1 transferred to a2 on call k1 (issue 15).
var moved = &agentv1.InteractionTransferred{InteractionId: "i1", CallId: "k1", FromAgentId: "a1", ToAgentId: "a2",
	At: timestamppb.New(t0)}

// A transfer to an agent moves the interaction: who may act on it, what
// each command decides after the move.
func TestTransferToAnAgent(t *testing.T) {
	live := []proto.Message{presented, acceptReq, accepted, dialled, connected}
	with := func(es ...proto.Message) []proto.Message { return append(live[:len(live):len(live)], es...) }
	blind := with(transferReq, ringing)
	consulted := with(consultReq, ringing, consulting, endReq(completeTrans))
	draft := &agentv1.DraftSaved{InteractionId: "i1", AgentId: "a1", Note: "wants a refund", At: timestamppb.New(t0)}
	cases := []struct {
		name    string
		given   []proto.Message
		when    Command
		want    []string
		wantErr error
	}{
		{"blind transfer answered", blind, NoteTransfer{CallID: "k1", Party: "a2", At: t0}, []string{"PartyStatusChanged", "InteractionTransferred"}, nil},
		{"consult then transfer", consulted, NoteTransfer{CallID: "k1", Party: "a2", At: t0}, []string{"PartyStatusChanged", "InteractionTransferred"}, nil},
		{"the draft is filed first", with(draft, transferReq, ringing), NoteTransfer{CallID: "k1", Party: "a2", At: t0},
			[]string{"PartyStatusChanged", "DraftFiled", "InteractionTransferred"}, nil},
		{"the agent left the conference", with(consultReq, ringing, consulting, conference), NoteTransfer{CallID: "k1", Party: "a2", At: t0},
			[]string{"PartyStatusChanged", "InteractionTransferred"}, nil},
		{"redelivered", append(blind, moved), NoteTransfer{CallID: "k1", Party: "a2", At: t0}, nil, nil},
		{"another call's transfer", blind, NoteTransfer{CallID: "k0", Party: "a2", At: t0}, nil, nil},
		{"the party left after the move is nothing", append(blind, moved), PartyProgress{CallID: "k1", Party: "a2", At: t0}, nil, nil},

		// The receiving agent handles it; the first agent may not.
		{"a2 hangs up", append(blind, moved), EndCall{Agent: "a2", At: t0}, []string{"HangupRequested"}, nil},
		{"a1 hangs up", append(blind, moved), EndCall{Agent: "a1", At: t0}, nil, ErrNotYours},
		{"a2 sends DTMF", append(blind, moved), SendDTMF{Agent: "a2", Digits: "1", At: t0}, []string{"DtmfRequested"}, nil},
		// The gateway holds and mutes the leg the call was transferred to;
		// the first agent may not.
		{"a2 holds the call they received", append(blind, moved), Hold{Agent: "a2", Hold: true, At: t0}, []string{"HoldRequested"}, nil},
		{"a2 retrieves the call they received", with(transferReq, ringing, moved, &agentv1.CallStatusChanged{CallId: "k1", Status: OnHold, At: timestamppb.New(t0)}),
			Hold{Agent: "a2", Hold: false, At: t0}, []string{"HoldRequested"}, nil},
		{"a1 holds the call they gave", append(blind, moved), Hold{Agent: "a1", Hold: true, At: t0}, nil, ErrNotYours},
		{"a2 mutes the call they received", append(blind, moved), Mute{Agent: "a2", Mute: true, At: t0}, []string{"MuteRequested"}, nil},
		{"a2 records the call they received", append(blind, moved), Record{Agent: "a2", Record: true, At: t0}, []string{"RecordingRequested"}, nil},
		// Its one third-party place is a2's own leg.
		{"a1 done", append(blind, moved), Finish{Agent: "a1", At: t0}, nil, ErrNotYours},
		{"a2 done in call", append(blind, moved), Finish{Agent: "a2", At: t0}, nil, ErrInCall},
		{"a2 done after the call", append(blind, moved, ended), Finish{Agent: "a2", At: t0}, []string{"InteractionDone"}, nil},
		{"a2 saves a draft", append(blind, moved), SaveDraft{Agent: "a2", Draft: Draft{Note: "x"}, At: t0}, []string{"DraftSaved"}, nil},
		{"a1 saves a draft", append(blind, moved), SaveDraft{Agent: "a1", Draft: Draft{Note: "x"}, At: t0}, nil, ErrNotYours},
		{"a2 transfers the call they received", append(blind, moved), Transfer{Agent: "a2", Party: Party{Agent: "a3", PhoneURI: "sip:a3@h"}, At: t0}, nil, ErrHandedOver},
		{"a2 consults on the call they received", append(blind, moved), Consult{Agent: "a2", Party: Party{Agent: "a1", PhoneURI: "sip:a1@h"}, At: t0}, nil, ErrHandedOver},
		{"a2 transfers their own next call", append(blind, moved, ended, &agentv1.DialRequested{CallId: "k2", At: timestamppb.New(t0)},
			&agentv1.CallStatusChanged{CallId: "k2", Status: Connected, At: timestamppb.New(t0)}),
			Transfer{Agent: "a2", Party: Party{Agent: "a1", PhoneURI: "sip:a1@h"}, At: t0}, []string{"TransferRequested"}, nil},
		{"a2 calls again after the end", append(blind, moved, ended), Call{Agent: "a2", CallID: "k2", PhoneURI: "sip:a2@h", At: t0}, []string{"DialRequested"}, nil},
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

// What the interaction is after the move: the receiving agent's, on the
// call with the contact, with the case data, the first agent's note filed
// as theirs, and whom it came from.
func TestTransferMovesEverything(t *testing.T) {
	s := State{}
	edited := &agentv1.CaseDataNoted{InteractionId: "i1", CaseData: map[string]string{"order": "42"}, At: timestamppb.New(t0)}
	draft := &agentv1.DraftSaved{InteractionId: "i1", AgentId: "a1", Note: "wants a refund", At: timestamppb.New(t0)}
	code := &agentv1.DispositionNoted{InteractionId: "i1", Code: "SALE"}
	for _, e := range []proto.Message{presented, acceptReq, accepted, dialled, connected, edited, code, draft, consultReq, held, ringing, consulting} {
		s = Evolve(s, e)
	}
	evs, err := Decide(s, NoteTransfer{CallID: "k1", Party: "a2", At: t0})
	if err != nil {
		t.Fatal(err)
	}
	var filed *agentv1.DraftFiled
	for _, e := range evs {
		if f, ok := e.(*agentv1.DraftFiled); ok {
			filed = f
		}
		if m, ok := e.(*agentv1.InteractionTransferred); ok && (m.CallbackId != "c1" || m.FromAgentId != "a1" || m.ToAgentId != "a2") {
			t.Fatalf("moved: %+v", m)
		}
		s = Evolve(s, e)
	}
	if filed == nil || filed.AgentId != "a1" || filed.Note != "wants a refund" || filed.CallbackId != "c1" {
		t.Fatalf("the first agent's note: %+v", filed)
	}
	switch {
	case s.Agent != "a2" || s.Phase != Accepted:
		t.Fatalf("agent %q phase %v, want a2 accepted", s.Agent, s.Phase)
	case s.CallStatus != Connected || s.Third.Asked() || s.CallID != "k1":
		t.Fatalf("call %q %q third %+v", s.CallStatus, s.CallID, s.Third)
	case s.CaseData()["order"] != "42" || s.Disposition != "SALE" || s.Draft.Note != "":
		t.Fatalf("case data %v disposition %q draft %+v", s.CaseData(), s.Disposition, s.Draft)
	case s.TransferredFrom() != "a1" || len(s.Transfers) != 1 || s.Transfers[0].To != "a2":
		t.Fatalf("transfers %+v", s.Transfers)
	}
	// The call's end is the receiving agent's: Ready to Call, then Done.
	evs, _ = Decide(s, Progress{CallID: "k1", Status: ReadyToCall, Cause: Cause{End: mediav1.EndReason_END_REASON_CONTACT_HUNG_UP}, At: t0})
	if len(evs) != 1 {
		t.Fatalf("the call's end: %v", evs)
	}
	s = Evolve(s, evs[0])
	evs, err = Decide(s, Finish{Agent: "a2", RequireDisposition: true, At: t0})
	if err != nil || len(evs) != 1 {
		t.Fatalf("done: %v %v", evs, err)
	}
	if d := evs[0].(*agentv1.InteractionDone); d.AgentId != "a2" || d.Disposition != "SALE" {
		t.Fatalf("done: %+v", d)
	}
}
