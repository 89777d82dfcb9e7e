package callback

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// Reschedule asks for the callback at another time, as the visitor or an
// API client may before an agent takes it: once one did, the call is
// under way and only the agent reschedules it (agent-session). The
// scheduler moves the due time when it reads the event; the wish is
// recorded at once so that the answer shows it.
type Reschedule struct {
	DesiredTime time.Time // zero: as soon as possible
	At          time.Time
	By          string // who asked, "" for the visitor
	Reason      string
	// Agent is who a supervisor reassigns it to (issue 14): it falls due
	// for them, as an agent's personal callback does.
	Agent string
}

func decideReschedule(s State, c Reschedule) ([]proto.Message, error) {
	switch {
	case !s.Exists:
		return nil, ErrNotFound
	case !s.Open():
		return nil, ErrFinal
	case s.Status == callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS:
		return nil, ErrInProgress
	case s.Status == callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED && s.Desired.Equal(c.DesiredTime) && !c.DesiredTime.IsZero():
		return nil, nil // asked for again: a retried PUT
	}
	e := &callbackv1.CallbackRescheduleRequested{CallbackId: s.ID, At: timestamppb.New(c.At), By: c.By, Reason: c.Reason,
		PersonalAgent: c.Agent}
	if !c.DesiredTime.IsZero() {
		e.DesiredTime = timestamppb.New(c.DesiredTime)
	}
	return []proto.Message{e}, nil
}

// evolveReschedule: SCHEDULED for the new wish (QUEUED when that is now),
// until the scheduler says when it falls due; asked of a callback being
// routed, until the router's decision comes back (MoveAsked).
func evolveReschedule(s State, e *callbackv1.CallbackRescheduleRequested) State {
	s.MoveAsked = s.MoveAsked || s.Status == callbackv1.CallbackState_CALLBACK_STATE_QUEUED && s.InteractionID != ""
	s.UpdatedAt = e.At.AsTime()
	s.Desired = time.Time{}
	s.Status = callbackv1.CallbackState_CALLBACK_STATE_QUEUED
	if e.DesiredTime != nil {
		s.Desired = e.DesiredTime.AsTime()
		if s.Desired.After(s.UpdatedAt) {
			s.Status, s.ScheduledFor = callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED, s.Desired
		}
	}
	return s
}
