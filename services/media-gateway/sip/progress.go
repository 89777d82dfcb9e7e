package sip

import "github.com/ringback/ringback/services/media-gateway/telephony"

// The words of a call's life are the service's (package telephony): this
// adapter reports in them and returns its errors in them.

type (
	ProgressKind = telephony.ProgressKind
	Outcome      = telephony.Outcome
	EndReason    = telephony.EndReason
	Progress     = telephony.Progress
	OutcomeError = telephony.OutcomeError
)

const (
	AgentRinging   = telephony.AgentRinging
	AgentAnswered  = telephony.AgentAnswered
	ContactRinging = telephony.ContactRinging
	Connected      = telephony.Connected
	Failed         = telephony.Failed
	Ended          = telephony.Ended
	PartyRinging   = telephony.PartyRinging
	PartyAlerting  = telephony.PartyAlerting
	PartyAnswered  = telephony.PartyAnswered
	PartyConnected = telephony.PartyConnected
	Conferenced    = telephony.Conferenced
	Transferred    = telephony.Transferred
	PartyLeft      = telephony.PartyLeft

	OutcomeBusy               = telephony.OutcomeBusy
	OutcomeNoAnswer           = telephony.OutcomeNoAnswer
	OutcomeInvalidNumber      = telephony.OutcomeInvalidNumber
	OutcomeFailed             = telephony.OutcomeFailed
	OutcomeAgentUnavailable   = telephony.OutcomeAgentUnavailable
	OutcomeCancelled          = telephony.OutcomeCancelled
	OutcomeAgentNotRegistered = telephony.OutcomeAgentNotRegistered

	EndUnknown         = telephony.EndUnknown
	EndAgentHungUp     = telephony.EndAgentHungUp
	EndContactHungUp   = telephony.EndContactHungUp
	EndHangupRequested = telephony.EndHangupRequested
	EndGatewayStopped  = telephony.EndGatewayStopped
	EndPartyHungUp     = telephony.EndPartyHungUp
	EndPartyDropped    = telephony.EndPartyDropped
	EndCallEnded       = telephony.EndCallEnded
	EndSessionExpired  = telephony.EndSessionExpired
)

// Reasons of an Ended report.
const (
	ReasonAgentHungUp     = telephony.ReasonAgentHungUp
	ReasonContactHungUp   = telephony.ReasonContactHungUp
	ReasonHangupRequested = telephony.ReasonHangupRequested
	ReasonGatewayStopped  = telephony.ReasonGatewayStopped
	reasonCallEnded       = telephony.ReasonCallEnded
	// ReasonPhoneRefused begins the reason of an agent's phone the gateway
	// will not ring (URI headers, a forbidden number at the trunk).
	ReasonPhoneRefused     = "phone refused"
	reasonRingTimeout      = "no answer before ring timeout"
	reasonTooManyDialogs   = "Busy Here - too many calls at the phone's address"
	reasonNoSRTP           = "Not Acceptable Here - the trunk answered without SRTP"
	reasonAgentHungUpEarly = "agent hung up before the contact answered"
)

// contactOutcome maps the trunk's final response to an outcome
// (RFC 3261 21.4-21.6; 604 is "Does Not Exist Anywhere", so an invalid
// number too).
func contactOutcome(code int) Outcome {
	switch code {
	case 486, 600, 603:
		return OutcomeBusy
	case 408, 480:
		return OutcomeNoAnswer
	case 404, 484, 604:
		return OutcomeInvalidNumber
	default:
		return OutcomeFailed
	}
}
