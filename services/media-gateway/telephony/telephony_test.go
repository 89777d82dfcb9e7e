package telephony_test

import (
	"errors"
	"testing"

	"github.com/ringback/ringback/services/media-gateway/telephony"
)

// The words of the port are what people read in logs and events' reasons.
func TestWords(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{telephony.PartyRinging.String(), "party ringing"},
		{telephony.ProgressKind(99).String(), "ProgressKind(99)"},
		{telephony.OutcomeAgentNotRegistered.String(), "agent not registered"},
		{telephony.Outcome(0).String(), "Outcome(0)"},
		{telephony.EndContactHungUp.String(), telephony.ReasonContactHungUp},
		{telephony.EndUnknown.String(), "EndReason(0)"},
		{(&telephony.OutcomeError{Outcome: telephony.OutcomeBusy, SIPCode: 486, Reason: "Busy Here"}).Error(), "busy (486 Busy Here)"},
		{(&telephony.OutcomeError{Outcome: telephony.OutcomeInvalidNumber, Reason: "not E.164"}).Error(), "invalid number (not E.164)"},
		{(&telephony.OutcomeError{Outcome: telephony.OutcomeFailed, Err: errors.New("refused")}).Error(), "failed: refused"},
	} {
		if c.got != c.want {
			t.Errorf("%q, want %q", c.got, c.want)
		}
	}
}

func TestAboutParty(t *testing.T) {
	for k := telephony.AgentRinging; k <= telephony.PartyLeft; k++ {
		want := k >= telephony.PartyRinging
		if k.AboutParty() != want {
			t.Errorf("%v.AboutParty() = %v", k, !want)
		}
	}
}

func TestOutcomeErrorUnwrapsAndReports(t *testing.T) {
	cause := errors.New("transport closed")
	e := &telephony.OutcomeError{Outcome: telephony.OutcomeFailed, SIPCode: 503, Reason: "Service Unavailable", Err: cause}
	if !errors.Is(e, cause) {
		t.Error("OutcomeError does not unwrap to its cause")
	}
	p := e.Failure()
	if p.Kind != telephony.Failed || p.Outcome != telephony.OutcomeFailed || p.SIPCode != 503 || p.Reason != "Service Unavailable" {
		t.Errorf("Failure() = %+v", p)
	}
}
