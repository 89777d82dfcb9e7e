// Package telephony is what the media gateway service needs of the stack
// that places its calls: a call it can place and control (Dialer, Call),
// the steps a call reports (Progress), why one did not connect (Outcome,
// OutcomeError) or ended (EndReason), and the legs another instance can
// hang up (Dialog, Legs). The service speaks only these words; the SIP
// adapter (package sip) implements them, so the service neither knows SIP
// nor breaks when the adapter changes inside.
//
// The package is pure: types, their words and errors, no I/O.
package telephony

import (
	"context"
	"io"
	"time"
)

// Dialer places calls. Both ways ring the agent's phone and the contact
// and return once the call is connected, or with an *OutcomeError (or the
// context's error when ctx was cancelled). report receives every step of
// the attempt, in order, from then until the call ends. A leg's answer is
// reported, with its dialog, before the answer is acknowledged (ACK), so
// report should record it before it returns: a leg no record names cannot
// be hung up by another instance.
type Dialer interface {
	// Dial rings the agent's phone, then the contact.
	Dial(ctx context.Context, id, agentURI, number string, report func(Progress)) (Call, error)
	// DialContactFirst rings the contact, then the agent's phone.
	DialContactFirst(ctx context.Context, id, agentURI, number string, report func(Progress)) (Call, error)
	// ContactAddress is where number is dialled (for SIP, its URI at the
	// trunk), as the attempt's record keeps it.
	ContactAddress(number string) string
}

// Call is a connected call the service controls. Each method does its part
// and returns; what follows from it (held, party answered, ended) comes as
// Progress through the report given to the Dialer.
type Call interface {
	ID() string
	// Ended is closed once the call is over and its legs hung up, after
	// the Ended report.
	Ended() <-chan struct{}
	// Hangup ends the call (Ended, EndHangupRequested).
	Hangup(ctx context.Context) error
	// HangupBecause is Hangup with the reason the Ended report gives (the
	// gateway's drain running out, say).
	HangupBecause(ctx context.Context, reason EndReason) error
	// SetAgentMayLeave says whether the agent hanging up in a conference
	// leaves the call to the contact and the party rather than ending it.
	SetAgentMayLeave(may bool)
	Hold(ctx context.Context) error
	Retrieve(ctx context.Context) error
	Mute(muted bool) error
	SendDTMF(ctx context.Context, digits string) error
	// StartSealedRecording records both directions to a new file at path,
	// written through seal when not nil.
	StartSealedRecording(path string, seal Seal) error
	// StopRecording ends the recording and says how long it was.
	StopRecording() (time.Duration, error)
	// Consult holds the contact and rings p; it returns once p answered
	// (PartyConnected) or did not (PartyLeft; an *OutcomeError or
	// ErrCallEnded).
	Consult(ctx context.Context, p Party) error
	// Transfer is blind: Consult that completes the transfer as soon as p
	// answers (Transferred).
	Transfer(ctx context.Context, p Party) error
	// CompleteTransfer connects the contact to the consulted party and
	// hangs up the agent's leg (Transferred).
	CompleteTransfer(ctx context.Context) error
	// Conference mixes agent, contact and consulted party (Conferenced).
	Conference(ctx context.Context) error
	// DropParty cancels a party still ringing or hangs one up (PartyLeft).
	DropParty(ctx context.Context) error
}

// Seal wraps a recording's file: what is written to the returned writer
// reaches w sealed (encrypted); Close finishes the seal.
type Seal func(w io.Writer) (io.WriteCloser, error)

// Legs ends the legs of a call this process did not place (its gateway
// died) from their recorded dialogs: BYE an answered leg, CANCEL one that
// still rings.
type Legs interface {
	Bye(ctx context.Context, d Dialog) error
	Cancel(ctx context.Context, d Dialog) error
}
