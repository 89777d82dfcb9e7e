// Package contact is the pure domain of a number's claims as intake owns
// them: stream intake-contact-n<key>, one per number, holding the set of
// open callbacks the number has, at most one per service and at most the
// cap across services. No I/O, no clock: time and what intake read of the
// holders' callbacks come in commands.
//
// Why a stream per number: two replicas creating a callback for the same
// number each append a claim at the revision they read; the store accepts
// one and refuses the other (eventstore.ErrConflict), which then reads the
// winner's claim and decides again: 409 when the service is held or the
// cap reached. No lock, and it holds across processes, for the rule per
// service and the cap across services alike, since both are decided on
// the one stream.
//
// The previous version kept a stream per number and service
// (intake-contact-<key>, Stream); those are no longer read. Intake's
// claimer claims again, on the number's stream, every open callback not
// written with number_claimed (claimer.go).
package contact

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/ratelimit"
	"github.com/ringback/ringback/libs/streams"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// StreamPrefix starts every claim stream; KeyStream is the stream of the
// key that names them (it is not a claim stream: no hash is "key").
const (
	StreamPrefix = streams.IntakeContact
	KeyStream    = StreamPrefix + "key"
)

// KeySize is the HMAC key's length in bytes (SHA-256's block is 64; 32 is
// its security level).
const KeySize = 32

// NumberStream names the claim stream of a number: an HMAC of the number
// alone (after a zero byte, so no input of Stream's gives the same MAC),
// for the same reasons as Stream. "n" is not a hex digit: no name of
// Stream's begins with it.
func NumberStream(key []byte, number string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte{0})
	m.Write([]byte(number))
	return StreamPrefix + "n" + hex.EncodeToString(m.Sum(nil)[:16])
}

// Stream named the claim stream of a number and service, in the version
// before the cap across services; kept to name the streams it left. The name is an
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

// State is a number's claim stream folded.
type State struct {
	Holders map[string]Hold // by callback id
	// Claimed are the times of the number's last claims, oldest first (at
	// most keptClaims): the record its rate limit is replayed from.
	Claimed []time.Time
}

// keptClaims bounds State.Claimed. A rate limit replayed from the last
// claims decides as from all of them while its burst is at most this.
const keptClaims = 64

// Hold is one callback's claim on the number.
type Hold struct {
	Service   string
	ClaimedAt time.Time
}

// Holder is what intake read of a holding callback's own stream
// (intake-callback-<id>) when it decided: the claim stream alone cannot
// know whether its holder's callback was written, or has ended.
type Holder struct {
	Requested bool // CallbackRequested is in its stream
	Open      bool // and it has not reached a final state
	Voided    bool // CallbackVoided is in its stream: it never will be requested
	// SameContact: the callback is for this number and the hold's service.
	// A retried POST with the same Idempotency-Key and another number or
	// service may have claimed for a callback that is of another.
	SameContact bool
}

// Commands.
type (
	// Claim takes the number for callback CallbackID of Service.
	Claim struct {
		CallbackID string
		Service    string
		At         time.Time
		// Holders are what intake read of the current holders' callbacks,
		// by id; a holder missing here counts as pending (held).
		Holders map[string]Holder
		// OnePerService refuses a second open callback of the same service.
		OnePerService bool
		// Max caps the open callbacks of the number; 0: no cap.
		Max int
		// Adopt claims whatever is held: a callback already open, written
		// before claims on this stream (claimer.go), is a fact to record.
		Adopt bool
		// Rate bounds the callbacks the number is given, all services, on
		// every replica alike (decided on the one stream); off: none.
		Rate ratelimit.Limit
	}
	// Release frees the number, if CallbackID holds it.
	Release struct {
		CallbackID string
		At         time.Time
		Reason     string
	}
)

// ErrHeld matches the *HeldError Decide returns when the number has an
// open callback of the service, or one being created.
var ErrHeld = errors.New("contact has an open callback")

// HeldError says which callback holds the number for the service.
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

// ErrCapped matches the *CapError of a number at its cap of open callbacks.
var ErrCapped = errors.New("contact has as many open callbacks as it may")

// CapError says the number has Max open callbacks (or being created).
type CapError struct{ Max int }

func (e *CapError) Error() string {
	return fmt.Sprintf("contact has %d open callbacks, the most it may have", e.Max)
}

// Is makes errors.Is(err, ErrCapped) true.
func (e *CapError) Is(target error) bool { return target == ErrCapped }

// ErrRated matches the *RateError of a number given callbacks faster than
// its rate limit allows.
var ErrRated = errors.New("contact is given callbacks too fast")

// RateError says when the number may be given its next callback.
type RateError struct{ RetryAfter time.Duration }

func (e *RateError) Error() string {
	return fmt.Sprintf("contact was given callbacks too fast; next in %s", e.RetryAfter)
}

// Is makes errors.Is(err, ErrRated) true.
func (e *RateError) Is(target error) bool { return target == ErrRated }

// Abandoned says whether a hold was left behind by a writer that died or
// stalled between the claim and the request: no request and no void
// after grace. Intake then voids the holder's callback (which races the
// late request on that stream) before claiming.
func Abandoned(h Hold, info Holder, now time.Time, grace time.Duration) bool {
	return !info.Requested && !info.Voided && !now.Before(h.ClaimedAt.Add(grace))
}

// Decide turns a command into events, or refuses it.
func Decide(s State, c Command) ([]proto.Message, error) {
	switch c := c.(type) {
	case Claim:
		if c.CallbackID == "" {
			return nil, errors.New("contact: claim needs a callback id")
		}
		if h, ok := s.Holders[c.CallbackID]; ok && h.Service == c.Service {
			return nil, nil // ours already: a retry, or a writer resuming its own request
		}
		var events []proto.Message
		live := 0
		for _, id := range slices.Sorted(maps.Keys(s.Holders)) {
			if id == c.CallbackID {
				continue // ours for another service: claimed again below
			}
			hold, info := s.Holders[id], c.Holders[id]
			gone := ""
			switch {
			case info.Requested && info.Open && info.SameContact:
				if c.OnePerService && hold.Service == c.Service && !c.Adopt {
					return nil, &HeldError{Holder: id}
				}
				live++
			case info.Requested && !info.Open:
				gone = "callback ended" // its release was lost (a crash after the final event): heal
			case info.Requested:
				gone = "callback is of another contact"
			case info.Voided:
				gone = "request abandoned"
			default:
				// Claimed, request not written yet: its writer is at it, or
				// died less than the grace ago. Either way not ours to take.
				if c.OnePerService && hold.Service == c.Service && !c.Adopt {
					return nil, &HeldError{Holder: id, Pending: true}
				}
				live++
			}
			if gone != "" {
				events = append(events, &callbackv1.ContactReleased{Holder: id, At: timestamppb.New(c.At), Reason: gone})
			}
		}
		if c.Max > 0 && live >= c.Max && !c.Adopt {
			return nil, &CapError{Max: c.Max}
		}
		if ok, wait := c.Rate.AllowAfter(s.Claimed, c.At); !ok && !c.Adopt {
			return nil, &RateError{RetryAfter: wait}
		}
		return append(events, &callbackv1.ContactClaimed{Holder: c.CallbackID, At: timestamppb.New(c.At), Service: c.Service}), nil
	case Release:
		if _, ok := s.Holders[c.CallbackID]; !ok {
			return nil, nil // not held by it: released already, or never
		}
		return []proto.Message{&callbackv1.ContactReleased{Holder: c.CallbackID, At: timestamppb.New(c.At), Reason: c.Reason}}, nil
	}
	return nil, fmt.Errorf("contact: unknown command %T", c)
}

// Evolve applies one event. It never fails and ignores unknown events.
// The set is copied, not changed: a State may be shared.
func Evolve(s State, e proto.Message) State {
	switch e := e.(type) {
	case *callbackv1.ContactClaimed:
		h := maps.Clone(s.Holders)
		if h == nil {
			h = map[string]Hold{}
		}
		h[e.Holder] = Hold{Service: e.Service, ClaimedAt: e.At.AsTime()}
		s.Holders = h
		// Appended to a copy: a State may be shared.
		claimed := append(slices.Clip(s.Claimed), e.At.AsTime())
		s.Claimed = claimed[max(0, len(claimed)-keptClaims):]
	case *callbackv1.ContactReleased:
		if _, ok := s.Holders[e.Holder]; ok {
			h := maps.Clone(s.Holders)
			delete(h, e.Holder)
			s.Holders = h
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
