// Package contact is the pure domain of a contact's claim as intake owns
// it: stream intake-contact-<key>, one per number and service, that holds
// the one open callback the number may have. No I/O, no clock: time and
// what intake read of the holder's callback come in commands.
//
// Why a stream per number: two replicas creating a callback for the same
// number each append a claim at the revision they read; the store accepts
// one and refuses the other (eventstore.ErrConflict), which then reads the
// winner's claim and answers 409. No lock, and it holds across processes.
package contact

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// StreamPrefix starts every claim stream; KeyStream is the stream of the
// key that names them (it is not a claim stream: no hash is "key").
const (
	StreamPrefix = "intake-contact-"
	KeyStream    = StreamPrefix + "key"
)

// KeySize is the HMAC key's length in bytes (SHA-256's block is 64; 32 is
// its security level).
const KeySize = 32

// Stream names the claim stream of a number and service. The name is an
// HMAC of both, not the number: stream names travel as Kafka keys and in
// log lines and traces, where a phone number must never appear (DESIGN.md,
// section 2). A plain hash would not do: E.164 numbers are few enough
// (about 10^10 per country) to be hashed all and looked up. 128 bits of the
// MAC are ample to keep numbers apart.
func Stream(key []byte, service, number string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(service))
	m.Write([]byte{0})
	m.Write([]byte(number))
	return StreamPrefix + hex.EncodeToString(m.Sum(nil)[:16])
}

// State is a claim stream folded.
type State struct {
	Holder    string    // the callback holding the number; "" when free
	ClaimedAt time.Time // when Holder claimed it
}

// Holder is what intake read of the holding callback's own stream
// (intake-callback-<id>) when it decided: the claim stream alone cannot
// know whether its holder's callback was written, or has ended.
type Holder struct {
	Requested bool // CallbackRequested is in its stream
	Open      bool // and it has not reached a final state
	Voided    bool // CallbackVoided is in its stream: it never will be requested
	// SameContact: the callback is for this number and service. A retried
	// POST with the same Idempotency-Key and another number may have
	// claimed this number for a callback that is of another one.
	SameContact bool
}

// Commands.
type (
	// Claim takes the number for callback CallbackID.
	Claim struct {
		CallbackID string
		At         time.Time
		Holder     Holder // of the current holder, when there is one
	}
	// Release frees the number, if CallbackID holds it.
	Release struct {
		CallbackID string
		At         time.Time
		Reason     string
	}
)

// ErrHeld matches the *HeldError Decide returns when the number has an
// open callback, or one being created.
var ErrHeld = errors.New("contact has an open callback")

// HeldError says which callback holds the number.
type HeldError struct {
	Holder  string
	Pending bool // its request is not written yet
}

func (e *HeldError) Error() string {
	if e.Pending {
		return fmt.Sprintf("contact claimed by callback %s, being created", e.Holder)
	}
	return fmt.Sprintf("contact held by open callback %s", e.Holder)
}

// Is makes errors.Is(err, ErrHeld) true.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// Abandoned says whether the holder's claim was left behind by a writer
// that died or stalled between the claim and the request: no request and
// no void after grace. Intake then voids the holder's callback (which
// races the late request on that stream) before claiming again.
func Abandoned(s State, h Holder, now time.Time, grace time.Duration) bool {
	return s.Holder != "" && !h.Requested && !h.Voided && !now.Before(s.ClaimedAt.Add(grace))
}

// Decide turns a command into events, or refuses it.
func Decide(s State, c any) ([]proto.Message, error) {
	switch c := c.(type) {
	case Claim:
		if c.CallbackID == "" {
			return nil, errors.New("contact: claim needs a callback id")
		}
		switch {
		case s.Holder == "":
			return claimed(c, "", ""), nil
		case s.Holder == c.CallbackID:
			return nil, nil // ours already: a retry, or a writer resuming its own request
		case c.Holder.Requested && c.Holder.Open && c.Holder.SameContact:
			return nil, &HeldError{Holder: s.Holder}
		case c.Holder.Requested && !c.Holder.Open:
			// Its release was lost (a crash after the final event): heal.
			return claimed(c, s.Holder, "previous callback ended"), nil
		case c.Holder.Requested:
			return claimed(c, s.Holder, "previous callback is of another contact"), nil
		case c.Holder.Voided:
			return claimed(c, s.Holder, "previous request abandoned"), nil
		default:
			// Claimed, request not written yet: its writer is at it, or died
			// less than the grace ago. Either way not ours to take.
			return nil, &HeldError{Holder: s.Holder, Pending: true}
		}
	case Release:
		if s.Holder == "" || s.Holder != c.CallbackID {
			return nil, nil // not held by it: released already, or passed on
		}
		return []proto.Message{&callbackv1.ContactReleased{Holder: c.CallbackID, At: timestamppb.New(c.At), Reason: c.Reason}}, nil
	}
	return nil, fmt.Errorf("contact: unknown command %T", c)
}

func claimed(c Claim, previous, reason string) []proto.Message {
	return []proto.Message{&callbackv1.ContactClaimed{Holder: c.CallbackID, At: timestamppb.New(c.At),
		Previous: previous, Reason: reason}}
}

// Evolve applies one event. It never fails and ignores unknown events.
func Evolve(s State, e proto.Message) State {
	switch e := e.(type) {
	case *callbackv1.ContactClaimed:
		s.Holder, s.ClaimedAt = e.Holder, e.At.AsTime()
	case *callbackv1.ContactReleased:
		if s.Holder == e.Holder {
			s.Holder, s.ClaimedAt = "", time.Time{}
		}
	}
	return s
}

// KeyOf folds the key stream: the first key written is the key.
func KeyOf(key []byte, e proto.Message) []byte {
	if k, ok := e.(*callbackv1.ContactKeyCreated); ok && key == nil {
		return k.Key
	}
	return key
}

// DecideKey writes key (drawn by the caller) unless there is one already.
func DecideKey(current, drawn []byte, at time.Time) ([]proto.Message, error) {
	if current != nil {
		return nil, nil
	}
	if len(drawn) != KeySize {
		return nil, fmt.Errorf("contact: key must be %d bytes, got %d", KeySize, len(drawn))
	}
	return []proto.Message{&callbackv1.ContactKeyCreated{Key: drawn, At: timestamppb.New(at)}}, nil
}
