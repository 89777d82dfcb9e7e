package telephony

import "errors"

// Party is a third party to ring: an agent's phone (AgentURI, a SIP URI,
// "registered:<user>" or a browser's phone) or a number through the trunk
// (Number, E.164). Exactly one is set.
type Party struct {
	AgentURI string
	Number   string
}

// WebPhonePrefix starts the agent URI of an agent whose phone is their
// browser: webrtc:<agent> is rung at the browsers' phones.
const WebPhonePrefix = "webrtc:"

// Purpose is why a party is rung.
type Purpose int

const (
	PurposeConsult Purpose = iota + 1
	PurposeTransfer
)

// Errors of the call controls (wrapped; match with errors.Is).
var (
	// ErrCallEnded: the call is over; nothing more can be done on it.
	ErrCallEnded = errors.New("call ended")
	// ErrPartyOnCall: a party is already on the call (or ringing).
	ErrPartyOnCall = errors.New("a third party is already on the call")
	// ErrNoParty: there is no party on the call to complete or drop.
	ErrNoParty = errors.New("no third party on the call")
	// ErrPartyRinging: the party has not answered yet.
	ErrPartyRinging = errors.New("the third party has not answered")
	// ErrTransferred: the call was transferred; the agent has left it.
	ErrTransferred = errors.New("the call was transferred")
)
