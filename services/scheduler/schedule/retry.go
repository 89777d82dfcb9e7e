package schedule

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/callwindow"
	"github.com/ringback/ringback/libs/serviceconf"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// Commands of the callback's life after a failed attempt or a long wait.
type (
	// Retry tries the callback again after an interaction that ended on a
	// call that did not reach the contact, as the service's policy says.
	Retry struct {
		InteractionID string
		// Outcome is busy, no_answer, failed or disposition:<code>.
		Outcome string
		// Attempts are the calls made so far, the last one included.
		Attempts int
		Policy   serviceconf.Policy
		At       time.Time // now
		Hours    Hours
		Window   callwindow.Window
	}
	// Expire ends a callback whose time to live ran out.
	Expire struct {
		At time.Time // now
	}
)

// decideLife decides Retry and Expire.
func (s State) decideLife(c any) ([]proto.Message, error) {
	switch c := c.(type) {
	case Retry:
		// Only a firing's own interaction asks: a late or repeated word
		// about an earlier one changes nothing.
		if s.Status != Fired || c.InteractionID != s.Current() {
			return nil, nil
		}
		next := c.Attempts + 1
		if next > c.Policy.Attempts {
			return nil, nil // used up: the interaction completed the callback
		}
		delay := c.Policy.DelayBefore(next)
		due, moved := DueTimeIn(c.At.Add(delay), c.At, c.Hours, c.Window, s.Request)
		reason := fmt.Sprintf("%s: attempt %d of %d after %s", c.Outcome, next, c.Policy.Attempts, delay)
		out := []proto.Message{&callbackv1.CallbackRescheduled{CallbackId: s.ID, DueAt: timestamppb.New(due),
			Reason: reason, MovedByWindow: moved, ExpiresAt: s.expiresAt(), PersonalAgent: s.PersonalAgent, Retry: &callbackv1.Retry{Outcome: c.Outcome,
				Attempt: int32(next), Max: int32(c.Policy.Attempts), Delay: durationpb.New(delay)}}}
		if !due.After(c.At) {
			s.Attempts = c.Attempts
			out = append(out, s.due(s.ID, s.Request, due))
		}
		return out, nil
	case Expire:
		if !s.Expiring() || c.At.Before(s.ExpiresAt) {
			return nil, nil
		}
		interaction := ""
		if s.Status == Fired {
			interaction = s.Current()
		}
		return []proto.Message{&callbackv1.CallbackExpired{CallbackId: s.ID, InteractionId: interaction,
			At: timestamppb.New(c.At), Reason: "FAIL_EXPIRED: not connected by " + s.ExpiresAt.UTC().Format(time.RFC3339) + ", the end of its time to live"}}, nil
	}
	return nil, fmt.Errorf("schedule: unknown command %T", c)
}
