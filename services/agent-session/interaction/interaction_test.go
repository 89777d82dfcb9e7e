package interaction

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/proto/catalog"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

var (
	presented = &agentv1.InteractionPresented{InteractionId: "i1", CallbackId: "c1", AgentId: "a1", OfferId: "i1:1",
		Request:   &callbackv1.CallbackRequest{PhoneNumber: "+14155550123", Service: "support"},
		ExpiresAt: timestamppb.New(t0.Add(15 * time.Second)), At: timestamppb.New(t0)}
	acceptReq  = &agentv1.AcceptRequested{InteractionId: "i1", AgentId: "a1", At: timestamppb.New(t0)}
	accepted   = &agentv1.InteractionAccepted{InteractionId: "i1", AgentId: "a1", At: timestamppb.New(t0)}
	dialled    = &agentv1.DialRequested{CallId: "k1", At: timestamppb.New(t0)}
	connected  = &agentv1.CallStatusChanged{CallId: "k1", Status: Connected, At: timestamppb.New(t0)}
	ended      = &agentv1.CallStatusChanged{CallId: "k1", Status: ReadyToCall, DialOutcome: mediav1.Outcome_OUTCOME_BUSY, At: timestamppb.New(t0)}
	disposed   = &agentv1.DispositionNoted{Code: "resolved", At: timestamppb.New(t0)}
	held       = &agentv1.CallStatusChanged{CallId: "k1", Status: OnHold, At: timestamppb.New(t0)}
	mutedFlags = &agentv1.CallFlagsChanged{CallId: "k1", Muted: true, At: timestamppb.New(t0)}
	yes        = true

	autoPresented = &agentv1.InteractionPresented{InteractionId: "i1", AgentId: "a1", OfferId: "i1:1",
		ExpiresAt: timestamppb.New(t0.Add(15 * time.Second)), At: timestamppb.New(t0),
		AutoAnswerAt: timestamppb.New(t0.Add(10 * time.Second)), CanReject: false}
)

func TestDecide(t *testing.T) {
	open := []proto.Message{presented, acceptReq, accepted}
	cases := []struct {
		name    string
		given   []proto.Message
		when    Command
		want    []string
		wantErr error
	}{
		{"present", nil, Present{Offer: presented}, []string{"InteractionPresented"}, nil},
		{"present again", []proto.Message{presented}, Present{Offer: presented}, nil, nil},
		{"accept in time", []proto.Message{presented}, Accept{Agent: "a1", At: t0.Add(time.Second)}, []string{"AcceptRequested"}, nil},
		{"accept twice", []proto.Message{presented, acceptReq}, Accept{Agent: "a1", At: t0}, nil, nil},
		{"accept late", []proto.Message{presented}, Accept{Agent: "a1", At: t0.Add(15 * time.Second)}, nil, ErrExpired},
		{"accept by another agent", []proto.Message{presented}, Accept{Agent: "a2", At: t0}, nil, ErrNotYours},
		{"accept unknown", nil, Accept{Agent: "a1", At: t0}, nil, ErrNotFound},
		{"reject", []proto.Message{presented}, Reject{Agent: "a1", At: t0}, []string{"RejectRequested"}, nil},
		{"reject after accept", open, Reject{Agent: "a1", At: t0}, nil, ErrNotOffered},
		{"router confirms", []proto.Message{presented, acceptReq}, Confirm{Agent: "a1", At: t0}, []string{"InteractionAccepted"}, nil},
		{"router withdraws", []proto.Message{presented}, Withdraw{Agent: "a1", Reason: "Timed out", At: t0}, []string{"InteractionWithdrawn"}, nil},
		{"interaction closed", []proto.Message{presented}, Withdraw{Reason: "Cancelled", At: t0}, []string{"InteractionWithdrawn"}, nil},
		{"closed after accept is nothing", open, Withdraw{Reason: "Cancelled", At: t0}, nil, nil},
		{"withdraw for another agent", []proto.Message{presented}, Withdraw{Agent: "a2", At: t0}, nil, nil},
		{"call before accept", []proto.Message{presented}, Call{Agent: "a1", CallID: "k1", PhoneURI: "sip:a@h", At: t0}, nil, ErrNotAccepted},
		{"call", open, Call{Agent: "a1", CallID: "k1", PhoneURI: "sip:a@h", At: t0}, []string{"DialRequested"}, nil},
		{"call without phone", open, Call{Agent: "a1", CallID: "k1", At: t0}, nil, ErrNoPhone},
		{"call a contact who cancelled", open, Call{Agent: "a1", CallID: "k1", PhoneURI: "sip:a@h", At: t0, ContactCancelled: true}, nil, ErrContactCancelled},
		{"call while establishing", append(open, dialled), Call{Agent: "a1", CallID: "k2", PhoneURI: "sip:a@h", At: t0}, nil, ErrInCall},
		{"connected", append(open, dialled), Progress{CallID: "k1", Status: Connected, At: t0}, []string{"CallStatusChanged"}, nil},
		{"stale attempt ignored", append(open, dialled), Progress{CallID: "k0", Status: Connected, At: t0}, nil, nil},
		{"end call", append(open, dialled, connected), EndCall{Agent: "a1", At: t0}, []string{"HangupRequested"}, nil},
		{"end call with no call", open, EndCall{Agent: "a1", At: t0}, nil, ErrNoCall},
		{"done in a call", append(open, dialled, connected), Finish{Agent: "a1", At: t0}, nil, ErrInCall},
		{"done without disposition", append(open, dialled, ended), Finish{Agent: "a1", RequireDisposition: true, At: t0}, nil, ErrNeedDisposition},
		{"done", append(open, dialled, ended, disposed), Finish{Agent: "a1", RequireDisposition: true, At: t0}, []string{"InteractionDone"}, nil},
		{"done when not required", open, Finish{Agent: "a1", At: t0}, []string{"InteractionDone"}, nil},
		{"hold connected", append(open, dialled, connected), Hold{Agent: "a1", Hold: true, At: t0}, []string{"HoldRequested"}, nil},
		{"hold when not connected", append(open, dialled), Hold{Agent: "a1", Hold: true, At: t0}, nil, ErrNotConnected},
		{"retrieve when not held", append(open, dialled, connected), Hold{Agent: "a1", At: t0}, nil, nil},
		{"retrieve held", append(open, dialled, connected, held), Hold{Agent: "a1", At: t0}, []string{"HoldRequested"}, nil},
		{"retrieve with no call", open, Hold{Agent: "a1", At: t0}, nil, ErrNotOnHold},
		{"dtmf", append(open, dialled, connected), SendDTMF{Agent: "a1", Digits: "12#", At: t0}, []string{"DtmfRequested"}, nil},
		{"dtmf bad digits", append(open, dialled, connected), SendDTMF{Agent: "a1", Digits: "1x", At: t0}, nil, ErrDigits},
		{"dtmf on hold", append(open, dialled, connected, held), SendDTMF{Agent: "a1", Digits: "1", At: t0}, nil, ErrNotConnected},
		{"mute", append(open, dialled, connected), Mute{Agent: "a1", Mute: true, At: t0}, []string{"MuteRequested"}, nil},
		{"record with no call", open, Record{Agent: "a1", Record: true, At: t0}, nil, ErrNotConnected},
		{"reject an auto-answer that cannot be rejected", []proto.Message{autoPresented}, Reject{Agent: "a1", At: t0}, nil, ErrCannotReject},
		{"reschedule", open, Reschedule{Agent: "a1", Time: t0.Add(time.Hour), At: t0}, []string{"RescheduleRequested"}, nil},
		{"reschedule to the past", open, Reschedule{Agent: "a1", Time: t0.Add(-time.Hour), At: t0}, nil, ErrRescheduleTime},
		{"done after reschedule", append(open, &agentv1.RescheduleRequested{Time: timestamppb.New(t0.Add(time.Hour))}),
			Finish{Agent: "a1", At: t0}, []string{"InteractionDone"}, nil},
		{"disposition noted once", append(open, disposed), NoteDisposition{Code: "resolved", At: t0}, nil, nil},
		{"muted by the gateway", append(open, dialled, connected), Flags{CallID: "k1", Muted: &yes, At: t0}, []string{"CallFlagsChanged"}, nil},
		{"muted again is nothing", append(open, dialled, connected, mutedFlags), Flags{CallID: "k1", Muted: &yes, At: t0}, nil, nil},
		{"recording keeps mute as folded", append(open, dialled, connected, mutedFlags), Flags{CallID: "k1", Recording: &yes, At: t0}, []string{"CallFlagsChanged"}, nil},
		{"flags of an older attempt", append(open, dialled, connected), Flags{CallID: "k0", Muted: &yes, At: t0}, nil, nil},
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

func TestCallStatusFollowsTheCall(t *testing.T) {
	s := State{}
	for _, e := range []proto.Message{presented, acceptReq, accepted} {
		s = Evolve(s, e)
	}
	if s.CallStatus != ReadyToCall {
		t.Fatalf("after accept: %q", s.CallStatus)
	}
	if s = Evolve(s, dialled); s.CallStatus != Establishing || s.Attempts != 1 {
		t.Fatalf("after dial: %q, %d attempts", s.CallStatus, s.Attempts)
	}
	if s = Evolve(s, connected); s.CallStatus != Connected {
		t.Fatalf("after connect: %q", s.CallStatus)
	}
	if s = Evolve(s, ended); s.CallStatus != ReadyToCall || s.Cause != (Cause{Outcome: mediav1.Outcome_OUTCOME_BUSY}) {
		t.Fatalf("after end: %v (%+v)", s.CallStatus, s.Cause)
	}
}

// TestLegacyCallStatusFolds: CallStatusChanged stored before the status
// and its reason were typed (the words in legacy_status, legacy_reason)
// fold to the same status, the words kept as the cause; Decide then works
// on them as on new ones.
func TestLegacyCallStatusFolds(t *testing.T) {
	legacy := func(status, reason string) *agentv1.CallStatusChanged {
		return &agentv1.CallStatusChanged{CallId: "k1", LegacyStatus: status, LegacyReason: reason, At: timestamppb.New(t0)}
	}
	cases := []struct {
		event *agentv1.CallStatusChanged
		want  agentv1.CallStatus
	}{
		{legacy("Establishing", ""), Establishing},
		{legacy("Connected", ""), Connected},
		{legacy("On Hold", ""), OnHold},
		{legacy("Ready to Call", "The contact hung up"), ReadyToCall},
		{&agentv1.CallStatusChanged{CallId: "k1", Status: 42}, 42}, // a newer producer's: kept as is, not guessed
	}
	for _, c := range cases {
		s := State{}
		for _, e := range []proto.Message{presented, acceptReq, accepted, dialled, c.event} {
			s = Evolve(s, e)
		}
		if s.CallStatus != c.want || s.Cause.Legacy != c.event.GetLegacyReason() {
			t.Fatalf("%v: status %v cause %+v, want %v", c.event, s.CallStatus, s.Cause, c.want)
		}
	}
	s := State{}
	for _, e := range []proto.Message{presented, acceptReq, accepted, dialled, legacy("Connected", "")} {
		s = Evolve(s, e)
	}
	if evs, err := Decide(s, Hold{Agent: "a1", Hold: true, At: t0}); err != nil || len(evs) != 1 {
		t.Fatalf("hold on an old Connected: %v %v", evs, err)
	}
	s = Evolve(s, legacy("Ready to Call", "Busy"))
	if evs, err := Decide(s, Finish{Agent: "a1", At: t0}); err != nil || len(evs) != 1 {
		t.Fatalf("done after an old end: %v %v", evs, err)
	}
}

// A flag the gateway did not speak of keeps its folded value: the command
// carries only what changed, so a retry after a conflict decides from the
// state it folded, not from a copy read before.
func TestFlagsKeepWhatTheGatewayDidNotSay(t *testing.T) {
	s := State{}
	for _, e := range []proto.Message{presented, acceptReq, accepted, dialled, connected, mutedFlags} {
		s = Evolve(s, e)
	}
	got, err := Decide(s, Flags{CallID: "k1", Recording: &yes, At: t0})
	if err != nil || len(got) != 1 {
		t.Fatalf("decide: %v %v", got, err)
	}
	if f := got[0].(*agentv1.CallFlagsChanged); !f.Muted || !f.Recording {
		t.Fatalf("flags = muted %v recording %v, want both", f.Muted, f.Recording)
	}
}
