package sip

import (
	"strings"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/ringback/ringback/libs/dialplan"
	"github.com/ringback/ringback/libs/phone"
)

// refusedNumber is the last check before a number leaves for the trunk:
// not E.164, or what the dial plan never allows (emergency, premium, short
// and service codes, issue 16). The reason names the refusal, never the
// number.
func refusedNumber(number string) *OutcomeError {
	if !phone.IsE164(number) {
		return &OutcomeError{Outcome: OutcomeInvalidNumber, Reason: "not an E.164 number"}
	}
	if err := dialplan.Forbidden(number); err != nil {
		return &OutcomeError{Outcome: OutcomeInvalidNumber, Reason: err.Error()}
	}
	return nil
}

// refusedPhone checks an agent's phone before it is rung: a URI carrying
// headers would put them in our INVITE (?X-Injected=1), and a phone "at the
// trunk" is a number dialled through it, held to the dial plan like any
// contact's.
func (g *Gateway) refusedPhone(u sipgosip.Uri) *OutcomeError {
	if u.Headers != nil && u.Headers.Length() > 0 {
		return &OutcomeError{Outcome: OutcomeAgentUnavailable, Reason: ReasonPhoneRefused + ": headers in the phone's URI"}
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	digits := strings.TrimPrefix(u.User, "+")
	isNumber := digits != "" && strings.Trim(digits, "0123456789") == ""
	if isNumber && strings.EqualFold(u.Host, g.trunkHost) && port == g.trunkPort {
		// A number at the trunk is dialled like a contact's ("911" too: the
		// trunk's own short dialling), so the dial plan holds it.
		if err := dialplan.Forbidden("+" + digits); err != nil {
			return &OutcomeError{Outcome: OutcomeAgentUnavailable, Reason: ReasonPhoneRefused + ": " + err.Error()}
		}
	}
	return nil
}
