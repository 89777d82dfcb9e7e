// Package callback is the pure domain of a callback request as intake owns
// it: stream intake-callback-<id>. It validates a request, and tracks the
// public state the visitor sees. No I/O, no clock: time comes in commands.
package callback

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/streams"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// Stream names the stream of a callback.
func Stream(id string) string { return streams.IntakeCallback + id }

// State is a callback as folded from its stream.
type State struct {
	ID      string
	Exists  bool
	Request *callbackv1.CallbackRequest
	// Desired is the time the contact wishes to be called: the request's,
	// or that of their latest reschedule. Zero: as soon as possible.
	Desired       time.Time
	Status        callbackv1.CallbackState
	ScheduledFor  time.Time
	InteractionID string
	Disposition   string
	UpdatedAt     time.Time
	// Agent accepted the latest interaction: the one agent who may read the
	// callback when agents authenticate.
	Agent string
	// Reason a callback completed unreached (FAIL_BUSY, FAIL_EXPIRED…).
	Reason string
	// Attempts are the calls made to the contact so far.
	Attempts int
	// Moves are the reasons of every move of its due time, oldest first.
	Moves []string
	// Voided: the request was abandoned between its number's claim and its
	// CallbackRequested, which now never will be written (contact package).
	Voided bool
	// MoveAsked: a move was asked while the callback was being routed
	// (fallen due, its interaction open). The router decides between the
	// move and an agent accepting (README, "self-service"); the next word
	// of the platform on the callback says which, and clears this.
	MoveAsked bool
}

// Open says whether the callback still waits for or is in an interaction.
func (s State) Open() bool {
	return s.Exists && s.Status != callbackv1.CallbackState_CALLBACK_STATE_COMPLETED &&
		s.Status != callbackv1.CallbackState_CALLBACK_STATE_CANCELLED
}

// Commands.
type (
	// Request records a new, validated request.
	Request struct {
		ID      string
		Request *callbackv1.CallbackRequest
		At      time.Time
		Claimed bool // its number is claimed for it (contact package), on the number's stream
	}
	// Cancel withdraws it. A visitor may cancel only a callback not yet
	// being handled (issue 16: cancel means not started); once an agent
	// accepted it, only a supervisor may end it, saying who and why, which
	// the event's reason records.
	Cancel struct {
		At         time.Time
		Reason     string
		By         string // the supervisor's agent id, with Supervisor
		Supervisor bool
	}
	// Void marks a callback whose request was never written as never to
	// be: the loser of its race with a late Request.
	Void struct {
		ID     string
		At     time.Time
		Reason string
	}
	// Progress records what intake learned from another service.
	Progress struct {
		State         callbackv1.CallbackState
		At            time.Time
		InteractionID string
		ScheduledFor  time.Time
		Disposition   string
		Agent         string // who accepted or finished the interaction
		// Reopen: the callback was rescheduled, so SCHEDULED again even after
		// it was in progress.
		Reopen bool
		// Reason it completed unreached; Attempts so far (0: unknown);
		// Moved: why its due time moved.
		Reason   string
		Attempts int
		Moved    string
	}
)

// Errors of Decide.
var (
	ErrExists   = errors.New("callback already exists")
	ErrNotFound = errors.New("callback not found")
	ErrFinal    = errors.New("callback is already completed or cancelled")
	ErrVoided   = errors.New("callback request was abandoned before it was written")
	// ErrInProgress: an agent is handling the callback; only a supervisor
	// may end it.
	ErrInProgress = errors.New("callback is being handled: only a supervisor may end it")
	// ErrNoReason: a supervisor ends a callback only saying why.
	ErrNoReason = errors.New("a supervisor ending a callback must give a reason")
)

// rank orders states so that a late, out-of-order message never moves a
// callback backwards (the bus orders per stream, not across services).
var rank = map[callbackv1.CallbackState]int{
	callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED:   1,
	callbackv1.CallbackState_CALLBACK_STATE_QUEUED:      2,
	callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS: 3,
	callbackv1.CallbackState_CALLBACK_STATE_COMPLETED:   4,
	callbackv1.CallbackState_CALLBACK_STATE_CANCELLED:   4,
}

// Decide turns a command into events, or refuses it.
func Decide(s State, c Command) ([]proto.Message, error) {
	switch c := c.(type) {
	case Request:
		if s.Exists {
			return nil, ErrExists
		}
		if s.Voided {
			return nil, ErrVoided
		}
		return []proto.Message{&callbackv1.CallbackRequested{CallbackId: c.ID, Request: c.Request, Claimed: c.Claimed, NumberClaimed: c.Claimed}}, nil
	case Void:
		if s.Exists {
			return nil, ErrExists // the late request won: the callback is real
		}
		if s.Voided {
			return nil, nil
		}
		return []proto.Message{&callbackv1.CallbackVoided{CallbackId: c.ID, At: timestamppb.New(c.At), Reason: c.Reason}}, nil
	case Cancel:
		if !s.Exists {
			return nil, ErrNotFound
		}
		if !s.Open() {
			return nil, ErrFinal
		}
		reason := c.Reason
		if c.Supervisor {
			if c.Reason == "" || c.By == "" {
				return nil, ErrNoReason
			}
			// Who and why, in the event's one free-text field.
			reason = "ended by supervisor " + c.By + ": " + c.Reason
		} else if s.Status == callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS {
			return nil, ErrInProgress
		}
		return []proto.Message{&callbackv1.CallbackCancelled{CallbackId: s.ID, At: timestamppb.New(c.At), Reason: reason}}, nil
	case Reschedule:
		return decideReschedule(s, c)
	case Progress:
		if !s.Exists || !s.Open() {
			return nil, nil
		}
		// The same state again is nothing, unless it names another agent:
		// the interaction went with a transferred call (issue 15).
		// A move's confirmation is news even when it says what the move
		// did: it settles the move (MoveAsked).
		if c.State == s.Status && (c.ScheduledFor.IsZero() || c.ScheduledFor.Equal(s.ScheduledFor)) && c.Moved == "" &&
			(c.Agent == "" || c.Agent == s.Agent) && !s.MoveAsked {
			return nil, nil
		}
		// The scheduler's first word may hold an ASAP request until the
		// service opens: QUEUED (as intake assumed) becomes SCHEDULED, as
		// long as no interaction was opened for it.
		held := c.State == callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED &&
			s.Status == callbackv1.CallbackState_CALLBACK_STATE_QUEUED && s.InteractionID == ""
		if !c.Reopen && !held && rank[c.State] < rank[s.Status] {
			return nil, nil
		}
		if c.InteractionID != "" && s.InteractionID != "" && c.InteractionID != s.InteractionID &&
			c.State != callbackv1.CallbackState_CALLBACK_STATE_QUEUED {
			return nil, nil // a late word about an earlier interaction of a rescheduled callback
		}
		e := &callbackv1.CallbackStateChanged{CallbackId: s.ID, State: c.State, At: timestamppb.New(c.At),
			InteractionId: c.InteractionID, Disposition: c.Disposition, AgentId: c.Agent, Reason: c.Reason,
			Attempts: int32(c.Attempts), Moved: c.Moved}
		if !c.ScheduledFor.IsZero() {
			e.ScheduledFor = timestamppb.New(c.ScheduledFor)
		}
		return []proto.Message{e}, nil
	}
	return nil, fmt.Errorf("callback: unknown command %T", c)
}

// InitialState is the state of a request not yet asked for, which starts as
// SCHEDULED when it names a future time and QUEUED when it is for now.
func InitialState(r *callbackv1.CallbackRequest) callbackv1.CallbackState {
	if r.GetDesiredTime() != nil && r.GetDesiredTime().AsTime().After(r.GetRequestedAt().AsTime()) {
		return callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED
	}
	return callbackv1.CallbackState_CALLBACK_STATE_QUEUED
}

// Evolve applies one event. It never fails and ignores unknown events.
func Evolve(s State, e proto.Message) State {
	switch e := e.(type) {
	case *callbackv1.CallbackRequested:
		s.ID, s.Exists, s.Request = e.CallbackId, true, e.Request
		s.Status = InitialState(e.Request)
		s.UpdatedAt = e.Request.GetRequestedAt().AsTime()
		if d := e.Request.GetDesiredTime(); d != nil {
			s.ScheduledFor, s.Desired = d.AsTime(), d.AsTime()
		}
	case *callbackv1.CallbackRescheduleRequested:
		s = evolveReschedule(s, e)
	case *callbackv1.CallbackVoided:
		if !s.Exists {
			s.ID, s.Voided = e.CallbackId, true
		}
	case *callbackv1.CallbackCancelled:
		s.Status, s.UpdatedAt = callbackv1.CallbackState_CALLBACK_STATE_CANCELLED, e.At.AsTime()
	case *callbackv1.CallbackStateChanged:
		s.Status, s.UpdatedAt = e.State, e.At.AsTime()
		s.MoveAsked = false
		if e.InteractionId != "" {
			s.InteractionID = e.InteractionId
		}
		if e.ScheduledFor != nil {
			s.ScheduledFor = e.ScheduledFor.AsTime()
		}
		if e.Disposition != "" {
			s.Disposition = e.Disposition
		}
		if e.AgentId != "" {
			s.Agent = e.AgentId
		}
		if e.Reason != "" {
			s.Reason = e.Reason
		}
		if int(e.Attempts) > s.Attempts {
			s.Attempts = int(e.Attempts)
		}
		if e.Moved != "" {
			s.Moves = append(s.Moves, e.Moved)
		}
	}
	return s
}
