package telephony

import (
	"fmt"
	"strconv"
)

// ProgressKind is a step in the life of one call attempt.
type ProgressKind int

const (
	// AgentRinging: the agent's phone rings (180/183 on the agent leg).
	AgentRinging ProgressKind = iota + 1
	// AgentAnswered: the agent picked up; the contact is dialled next.
	AgentAnswered
	// ContactRinging: the contact's phone rings (180/183 from the trunk).
	ContactRinging
	// Connected: the contact answered (200); agent and contact talk.
	Connected
	// Failed: the attempt ended before Connected; Progress.Outcome says why.
	Failed
	// Ended: a Connected call is over; Progress.End says who ended it.
	Ended
	// PartyRinging: a third party is rung (Progress.Purpose says why); the
	// contact is on hold. Exactly one PartyLeft follows, however it ends.
	PartyRinging
	// PartyAlerting: the party's phone rings (a provisional response
	// opened an early dialog), reported with that dialog.
	PartyAlerting
	// PartyAnswered: the party's phone answered (consult or blind
	// transfer); reported before the answer is acknowledged, with its leg.
	PartyAnswered
	// PartyConnected: the consulted party answered; the agent talks to them.
	PartyConnected
	// Conferenced: agent, contact and party hear each other.
	Conferenced
	// Transferred: the contact talks to the party; the agent's leg is gone.
	Transferred
	// PartyLeft: the party hung up, was dropped, or never answered
	// (Progress.Outcome then says why).
	PartyLeft
)

var kindNames = map[ProgressKind]string{
	AgentRinging:   "agent ringing",
	AgentAnswered:  "agent answered",
	ContactRinging: "contact ringing",
	Connected:      "connected",
	Failed:         "failed",
	Ended:          "ended",
	PartyRinging:   "party ringing",
	PartyAlerting:  "party alerting",
	PartyAnswered:  "party answered",
	PartyConnected: "party connected",
	Conferenced:    "conferenced",
	Transferred:    "transferred",
	PartyLeft:      "party left",
}

// AboutParty says whether the step is the third party's (PartyRinging to
// PartyLeft).
func (k ProgressKind) AboutParty() bool { return k >= PartyRinging && k <= PartyLeft }

func (k ProgressKind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return "ProgressKind(" + strconv.Itoa(int(k)) + ")"
}

// Outcome is why a call attempt did not connect.
type Outcome int

const (
	// OutcomeBusy: the contact is busy or declined (486, 600, 603).
	OutcomeBusy Outcome = iota + 1
	// OutcomeNoAnswer: the contact did not answer: 408, 480, or our CANCEL
	// after the contact's ring timeout.
	OutcomeNoAnswer
	// OutcomeInvalidNumber: the number is not E.164 or the network does not
	// know it (404, 484, 604), or the dial plan refused it.
	OutcomeInvalidNumber
	// OutcomeFailed: the trunk refused or failed (403, 503, any other
	// 4xx-6xx, transport error, not even 100 Trying within the ring
	// timeout), or the gateway stopped.
	OutcomeFailed
	// OutcomeAgentUnavailable: the agent's phone did not answer, rejected the
	// call or hung up before the contact answered.
	OutcomeAgentUnavailable
	// OutcomeCancelled: the caller of Dial cancelled its context.
	OutcomeCancelled
	// OutcomeAgentNotRegistered: the agent is to be rung at the phone they
	// registered, and none is registered now (the agent reads "not
	// registered", not "did not answer").
	OutcomeAgentNotRegistered
)

var outcomeNames = map[Outcome]string{
	OutcomeBusy:               "busy",
	OutcomeNoAnswer:           "no answer",
	OutcomeInvalidNumber:      "invalid number",
	OutcomeFailed:             "failed",
	OutcomeAgentUnavailable:   "agent unavailable",
	OutcomeCancelled:          "cancelled",
	OutcomeAgentNotRegistered: "agent not registered",
}

func (o Outcome) String() string {
	if s, ok := outcomeNames[o]; ok {
		return s
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// EndReason is why a connected call, or the third party's leg, ended. Its
// String is the reason's text (ReasonContactHungUp...).
type EndReason int

const (
	// EndUnknown: no reason yet (the zero value).
	EndUnknown EndReason = iota
	EndAgentHungUp
	EndContactHungUp
	// EndHangupRequested: Hangup, the agent's End Call.
	EndHangupRequested
	// EndGatewayStopped: the gateway stopped (or drained) with the call up.
	EndGatewayStopped
	EndPartyHungUp
	// EndPartyDropped: DropParty, the agent's.
	EndPartyDropped
	// EndCallEnded: the party's leg ended because the call did.
	EndCallEnded
	// EndSessionExpired: a session refresh failed (RFC 4028).
	EndSessionExpired
)

// Reasons of an Ended or PartyLeft report, for people.
const (
	ReasonAgentHungUp     = "agent hung up"
	ReasonContactHungUp   = "contact hung up"
	ReasonHangupRequested = "hangup requested"
	ReasonGatewayStopped  = "gateway stopped"
	ReasonCallEnded       = "call ended"
	ReasonPartyHungUp     = "party hung up"
	ReasonPartyDropped    = "dropped by the agent"
	ReasonSessionExpired  = "session refresh failed: the peer is gone"
)

var endNames = map[EndReason]string{
	EndAgentHungUp:     ReasonAgentHungUp,
	EndContactHungUp:   ReasonContactHungUp,
	EndHangupRequested: ReasonHangupRequested,
	EndGatewayStopped:  ReasonGatewayStopped,
	EndPartyHungUp:     ReasonPartyHungUp,
	EndPartyDropped:    ReasonPartyDropped,
	EndCallEnded:       ReasonCallEnded,
	EndSessionExpired:  ReasonSessionExpired,
}

func (e EndReason) String() string {
	if s, ok := endNames[e]; ok {
		return s
	}
	return "EndReason(" + strconv.Itoa(int(e)) + ")"
}

// Progress is one report about a call attempt.
type Progress struct {
	Kind ProgressKind
	// Outcome is set when Kind is Failed, and for a PartyLeft of a party
	// that never answered.
	Outcome Outcome
	// Purpose is set on the third party's reports.
	Purpose Purpose
	// SIPCode is the status code of the response behind the step (180, 200,
	// 486, ...), 0 when no response was involved (timeout without any
	// response, transport error, hangup).
	SIPCode int
	// Reason is for people: the reason phrase or what happened, e.g.
	// "contact hung up". It never contains the contact's number.
	Reason string
	// End is why the call ended (Ended), or the party's leg (PartyLeft of a
	// party that answered): what the service decides on, not Reason.
	End EndReason
	// Legs are the dialogs of the legs just answered: the agent's on
	// AgentAnswered, both on Connected, the party's on PartyConnected. The
	// service records them so that another instance can hang them up.
	Legs []Dialog
}

// OutcomeError is what a Dialer returns when the call did not connect
// (match it with errors.As), and a party's ring when the party did not
// answer.
type OutcomeError struct {
	Outcome Outcome
	// SIPCode is the final response that decided the outcome; 0 when there
	// was none (invalid number caught before dialling, ring timeout before
	// any response, transport error).
	SIPCode int
	Reason  string
	// Err is the underlying error when the outcome is not a response.
	Err error
}

func (e *OutcomeError) Error() string {
	msg := e.Outcome.String()
	switch {
	case e.SIPCode != 0:
		msg += fmt.Sprintf(" (%d %s)", e.SIPCode, e.Reason)
	case e.Reason != "":
		msg += " (" + e.Reason + ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *OutcomeError) Unwrap() error { return e.Err }

// Failure is the Failed report matching e.
func (e *OutcomeError) Failure() Progress {
	return Progress{Kind: Failed, Outcome: e.Outcome, SIPCode: e.SIPCode, Reason: e.Reason}
}
