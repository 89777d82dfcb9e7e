// Package schedule is the pure domain of when a callback falls due, as the
// scheduler owns it: stream scheduler-callback-<id>. It fixes the due time
// (the visitor's wish, never in the past, moved into the service's office
// hours) and fires the callback once when that time comes. No I/O, no clock:
// time and configuration come in commands. It must not import a service.
package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// StreamPrefix starts every stream this package owns.
const StreamPrefix = "scheduler-callback-"

// Stream names the stream of a callback's schedule.
func Stream(callbackID string) string { return StreamPrefix + callbackID }

// Status of a callback's schedule.
type Status int

const (
	Unknown   Status = iota // nothing scheduled yet
	Pending                 // waiting for its due time
	Fired                   // CallbackDue written: the router has it now
	Cancelled               // withdrawn before it fell due; never fires
)

func (s Status) String() string {
	switch s {
	case Pending:
		return "pending"
	case Fired:
		return "fired"
	case Cancelled:
		return "cancelled"
	}
	return "unknown"
}

// State is a callback's schedule as folded from its stream.
type State struct {
	ID      string
	Status  Status
	Request *callbackv1.CallbackRequest
	DueAt   time.Time
	// Fired counts the CallbackDue events written, so that each time the
	// callback falls due (a reschedule after an attempt) gets its own
	// interaction id.
	Fired int
	// Agent accepted the latest interaction: the agent who may read the
	// schedule when agents authenticate (issue 16).
	Agent string
}

// Commands.
type (
	// Schedule fixes the due time of a new request.
	Schedule struct {
		ID      string
		Request *callbackv1.CallbackRequest
		At      time.Time // now
		Hours   Hours     // of the request's service
	}
	// Fire makes the callback due if its time has come.
	Fire struct {
		At time.Time // now
	}
	// Cancel withdraws a callback that has not fallen due yet.
	Cancel struct {
		ID     string
		At     time.Time
		Reason string
	}
	// Reschedule moves the due time; also after the callback fell due, since
	// an agent may reschedule during or after the interaction (DESIGN.md §1.8).
	Reschedule struct {
		DueAt  time.Time // wished time; zero means as soon as possible
		At     time.Time // now
		Hours  Hours
		Reason string
	}
	// NoteAccepted records the agent who accepted the callback's interaction.
	NoteAccepted struct {
		InteractionID string
		Agent         string
		At            time.Time
	}
)

// Errors of Decide.
var (
	ErrNoID         = errors.New("callback id is empty")
	ErrNotScheduled = errors.New("callback is not scheduled")
	ErrCancelled    = errors.New("callback is cancelled")
)

// DueTime is when a callback wished for at desired (zero: as soon as
// possible) and scheduled at now falls due: never in the past, and inside
// the service's office hours.
func DueTime(desired, now time.Time, h Hours) time.Time {
	due := now
	if desired.After(now) {
		due = desired
	}
	return h.Next(due)
}

// interactionNamespace roots the interaction ids (UUID v5).
var interactionNamespace = uuid.MustParse("b3a4f1d2-6c0e-4f7a-9d51-2e8c7a90c4e3")

// InteractionID is the id of the interaction opened the n-th time (from 0)
// a callback falls due. Deterministic, so a redelivered or retried firing
// names the same interaction.
func InteractionID(callbackID string, n int) string {
	return uuid.NewSHA1(interactionNamespace, []byte(callbackID+"/due/"+strconv.Itoa(n))).String()
}

// Decide turns a command into events, or refuses it.
func Decide(s State, c any) ([]proto.Message, error) {
	switch c := c.(type) {
	case Schedule:
		if c.ID == "" {
			return nil, ErrNoID
		}
		// Already scheduled, or cancelled before the request reached us.
		if s.Status != Unknown {
			return nil, nil
		}
		var desired time.Time // zero: as soon as possible
		if d := c.Request.GetDesiredTime(); d != nil {
			desired = d.AsTime()
		}
		due := DueTime(desired, c.At, c.Hours)
		out := []proto.Message{&callbackv1.CallbackScheduled{CallbackId: c.ID, Request: c.Request, DueAt: timestamppb.New(due)}}
		// Due already: say so in the same append, so the router gets an
		// ASAP callback without waiting for a timer.
		if !due.After(c.At) {
			out = append(out, s.due(c.ID, c.Request, due))
		}
		return out, nil
	case Fire:
		if s.Status != Pending || c.At.Before(s.DueAt) {
			return nil, nil
		}
		return []proto.Message{s.due(s.ID, s.Request, s.DueAt)}, nil
	case Cancel:
		if s.Status == Fired || s.Status == Cancelled {
			return nil, nil // the router owns a fired callback's cancellation
		}
		id := s.ID
		if id == "" {
			id = c.ID
		}
		if id == "" {
			return nil, ErrNoID
		}
		return []proto.Message{&callbackv1.CallbackUnscheduled{CallbackId: id, At: timestamppb.New(c.At), Reason: c.Reason}}, nil
	case Reschedule:
		switch s.Status {
		case Unknown:
			return nil, ErrNotScheduled
		case Cancelled:
			return nil, ErrCancelled
		}
		due := DueTime(c.DueAt, c.At, c.Hours)
		if s.Status == Pending && due.Equal(s.DueAt) {
			return nil, nil
		}
		out := []proto.Message{&callbackv1.CallbackRescheduled{CallbackId: s.ID, DueAt: timestamppb.New(due), Reason: c.Reason}}
		if !due.After(c.At) {
			out = append(out, s.due(s.ID, s.Request, due))
		}
		return out, nil
	case NoteAccepted:
		if s.Status == Unknown || c.Agent == "" || c.Agent == s.Agent {
			return nil, nil
		}
		return []proto.Message{&callbackv1.CallbackAccepted{CallbackId: s.ID, InteractionId: c.InteractionID,
			AgentId: c.Agent, At: timestamppb.New(c.At)}}, nil
	}
	return nil, fmt.Errorf("schedule: unknown command %T", c)
}

// due is the CallbackDue of the next firing.
func (s State) due(id string, r *callbackv1.CallbackRequest, at time.Time) *callbackv1.CallbackDue {
	return &callbackv1.CallbackDue{CallbackId: id, Request: r, DueAt: timestamppb.New(at),
		InteractionId: InteractionID(id, s.Fired)}
}

// Evolve applies one event. It never fails and ignores unknown events.
func Evolve(s State, e proto.Message) State {
	switch e := e.(type) {
	case *callbackv1.CallbackScheduled:
		s.ID, s.Request, s.Status, s.DueAt = e.CallbackId, e.Request, Pending, e.DueAt.AsTime()
	case *callbackv1.CallbackRescheduled:
		s.Status, s.DueAt = Pending, e.DueAt.AsTime()
		if s.ID == "" {
			s.ID = e.CallbackId
		}
	case *callbackv1.CallbackDue:
		s.Status, s.DueAt = Fired, e.DueAt.AsTime()
		s.Fired++
	case *callbackv1.CallbackAccepted:
		s.Agent = e.AgentId
	case *callbackv1.CallbackUnscheduled:
		s.Status = Cancelled
		if s.ID == "" {
			s.ID = e.CallbackId
		}
	}
	return s
}
