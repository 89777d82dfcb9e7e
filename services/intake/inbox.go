package intake

import (
	"context"
	"strings"
	"time"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/proto/catalog"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/intake/callback"
)

// Topics are the topics intake learns the callback's progress from.
var Topics = []string{envelope.TopicOf("scheduler"), envelope.TopicOf("router"), envelope.TopicOf("agent")}

// Only are the event types handle acts on, of each topic: the schedule's
// steps, the accept, and the interaction's transfer and Done; offers,
// agents' states and drafts are acknowledged undecoded
// (TestOnlyLeavesOutNothingHandled).
var Only = map[string][]string{
	envelope.TopicOf("scheduler"): {catalog.TypeName(&callbackv1.CallbackScheduled{}), catalog.TypeName(&callbackv1.CallbackDue{}),
		catalog.TypeName(&callbackv1.CallbackRescheduled{}), catalog.TypeName(&callbackv1.CallbackExpired{})},
	envelope.TopicOf("router"): {catalog.TypeName(&routingv1.OfferAccepted{})},
	envelope.TopicOf("agent"):  {catalog.TypeName(&agentv1.InteractionTransferred{}), catalog.TypeName(&agentv1.InteractionDone{})},
}

// handle turns another service's fact into the callback's public state.
func (s *Service) handle(ctx context.Context, e envelope.Envelope) error {
	var (
		id string
		p  callback.Progress
	)
	switch ev := e.Event.(type) {
	case *callbackv1.CallbackScheduled:
		if !e.Time.IsZero() && !ev.DueAt.AsTime().After(e.Time) {
			// Due at once: its CallbackDue, in the same append, says QUEUED.
			return nil
		}
		id = ev.CallbackId
		p = callback.Progress{State: callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED, ScheduledFor: ev.DueAt.AsTime(),
			Moved: scheduledMoves(ev)}
	case *callbackv1.CallbackDue:
		id = ev.CallbackId
		p = callback.Progress{State: callbackv1.CallbackState_CALLBACK_STATE_QUEUED, InteractionID: ev.InteractionId,
			ScheduledFor: ev.DueAt.AsTime(), Attempts: int(ev.Attempts)}
	case *callbackv1.CallbackRescheduled:
		id = ev.CallbackId
		p = callback.Progress{State: callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED, ScheduledFor: ev.DueAt.AsTime(), Reopen: true,
			Moved: movedReason(ev)}
		if r := ev.Retry; r != nil {
			p.Attempts = int(r.Attempt) - 1
		}
	case *callbackv1.CallbackExpired:
		id = ev.CallbackId
		p = callback.Progress{State: callbackv1.CallbackState_CALLBACK_STATE_COMPLETED, InteractionID: ev.InteractionId,
			Reason: "FAIL_EXPIRED"}
	case *routingv1.OfferAccepted:
		id = e.Correlation
		p = callback.Progress{State: callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS, InteractionID: ev.InteractionId,
			Agent: ev.AgentId}
	case *agentv1.InteractionTransferred:
		// The call went to another agent with its interaction (issue 15):
		// the callback is theirs now.
		if id = ev.CallbackId; id == "" {
			id = e.Correlation
		}
		p = callback.Progress{State: callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS, InteractionID: ev.InteractionId,
			Agent: ev.ToAgentId}
	case *agentv1.InteractionDone:
		id = ev.CallbackId
		p = callback.Progress{State: callbackv1.CallbackState_CALLBACK_STATE_COMPLETED, InteractionID: ev.InteractionId,
			Disposition: ev.Disposition, Agent: ev.AgentId, Reason: ev.Result, Attempts: int(ev.Attempts)}
		if ev.Rescheduled {
			// Due again later: the scheduler's CallbackRescheduled says when.
			p = callback.Progress{State: callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED, InteractionID: ev.InteractionId,
				Disposition: ev.Disposition, Reopen: true, Attempts: int(ev.Attempts)}
		}
	default:
		return nil
	}
	if id == "" {
		return nil
	}
	p.At = e.Time
	if p.At.IsZero() {
		p.At = s.deps.Clock.Now()
	}
	p.At = p.At.Truncate(time.Millisecond)
	// What intake restates of other services' facts, and the number it
	// frees at the end, wait for company to share a sync (at most a couple
	// of milliseconds on the embedded store): the services that react to
	// the same fact append at the same moment, and no step of the call
	// waits on intake's restatement.
	ctx = eventstore.WithSharedSync(ctx)
	out, err := s.execute(ctx, id, eventstore.Cause{ID: e.ID, Correlation: id}, p)
	if err != nil {
		return err
	}
	if out.State.Exists && !out.State.Open() {
		// Ended: free its number. On a redelivery too (out.Replay), since a
		// crash may have come between the final event and the release.
		return s.release(ctx, out.State, "callback "+strings.ToLower(strings.TrimPrefix(out.State.Status.String(), "CALLBACK_STATE_")))
	}
	return nil
}

// movedReason says why a due time moved: the retry or reschedule, then a
// full slot and the calling window if they moved it further.
func movedReason(ev *callbackv1.CallbackRescheduled) string {
	reason := ev.Reason
	for _, w := range []string{ev.GetMovedByCapacity().GetReason(), ev.GetMovedByWindow().GetReason()} {
		if w == "" {
			continue
		}
		if reason != "" {
			reason += "; "
		}
		reason += w
	}
	return reason
}
