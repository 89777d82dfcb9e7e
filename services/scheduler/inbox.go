package scheduler

import (
	"context"
	"errors"
	"strings"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/proto/catalog"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/scheduler/schedule"
)

// Topics scheduler learns requests, cancellations and contacts' reschedules
// (intake), agents' reschedules (agent-session) and the interactions the
// router withdrew for a move from; exported so the binary can hold its
// relay until every consumer listens.
var Topics = []string{envelope.TopicOf("intake"), envelope.TopicOf("agent"), envelope.TopicOf("router")}

// Only are the event types handle acts on where a topic carries many
// more: of the router's, the close of an interaction (a withdrawal for a
// move); of intake's, the requests and the visitor's changes, not the
// callbacks' public states it restates; of agent-session's, an interaction's accept, Done and
// reschedule, not agents' states and drafts. The rest, several per
// callback, are acknowledged undecoded (TestOnlyLeavesOutNothingHandled).
var Only = map[string][]string{
	envelope.TopicOf("router"): {catalog.TypeName(&routingv1.InteractionClosed{})},
	envelope.TopicOf("intake"): {catalog.TypeName(&callbackv1.CallbackRequested{}), catalog.TypeName(&callbackv1.CallbackCancelled{}),
		catalog.TypeName(&callbackv1.CallbackRescheduleRequested{})},
	envelope.TopicOf("agent"): {catalog.TypeName(&agentv1.RescheduleRequested{}), catalog.TypeName(&agentv1.InteractionDone{}),
		catalog.TypeName(&agentv1.InteractionAccepted{})},
}

// handle turns intake's facts into schedule commands. The bus event id is the
// cause, so a redelivered message appends nothing.
func (s *Service) handle(ctx context.Context, e envelope.Envelope) error {
	var (
		id  string
		cmd schedule.Command
		// mk builds a command that holds a place in a capacity bucket,
		// from the schedule as folded (executeWithPlace).
		mk func(context.Context, schedule.State) (schedule.Command, error)
	)
	switch ev := e.Event.(type) {
	case *callbackv1.CallbackRequested:
		id = ev.CallbackId
		svc := s.service(ev.Request.GetService())
		sc := schedule.Schedule{ID: id, Request: ev.Request, At: s.deps.Clock.Now(), Hours: svc.Hours, Window: svc.Window, TTL: svc.TTL}
		// A place in the bucket of its due time first (book.go), so the
		// schedule never names a full one.
		moved, err := s.book(ctx, e.ID, sc)
		if err != nil {
			return err
		}
		sc.Moved = moved
		cmd = sc
	case *callbackv1.CallbackCancelled:
		id = ev.CallbackId
		at := ev.At.AsTime()
		if ev.At == nil {
			at = s.deps.Clock.Now()
		}
		cmd = schedule.Cancel{ID: id, At: at, Reason: ev.Reason}
	case *agentv1.RescheduleRequested:
		id = ev.CallbackId
		mk = func(ctx context.Context, st schedule.State) (schedule.Command, error) {
			svc := s.service(st.Request.GetService())
			r := schedule.Reschedule{DueAt: ev.Time.AsTime(), At: s.deps.Clock.Now(),
				Hours: svc.Hours, Window: svc.Window, Reason: "rescheduled by agent " + ev.AgentId, TTL: svc.TTL}
			if ev.Personal {
				r.Personal, r.Reason = ev.AgentId, r.Reason+" as a personal callback"
			}
			// Counted in its new bucket (book.go), never refused: the agent
			// promised the contact that time.
			return r, s.hold(ctx, e.ID, st, r)
		}
	case *callbackv1.CallbackRescheduleRequested:
		// The contact's (or an API client's) move, as asked: applied to a
		// callback not due yet; for one due, the router is asked first.
		id = ev.CallbackId
		mk = s.move(e.ID, ev, "")
	case *routingv1.InteractionClosed:
		// The router withdrew a due callback's interaction for a move,
		// before any agent accepted it: the move applies now.
		if ev.WithdrawnFor == nil {
			return nil
		}
		id = ev.WithdrawnFor.CallbackId
		mk = s.move(e.ID, ev.WithdrawnFor, ev.InteractionId)
	case *agentv1.InteractionDone:
		if !ev.Rescheduled || ev.RetryOutcome == "" {
			return nil // an agent's reschedule comes as RescheduleRequested
		}
		id = ev.CallbackId
		mk = func(ctx context.Context, st schedule.State) (schedule.Command, error) {
			svc := s.service(st.Request.GetService())
			policy, ok := retryPolicy(svc.Retry, ev.RetryOutcome)
			if !ok {
				s.deps.Log.Warn("retry asked for an outcome without a policy", "callback", id, "outcome", ev.RetryOutcome)
				return nil, nil
			}
			r := schedule.Retry{InteractionID: ev.InteractionId, Outcome: ev.RetryOutcome, Attempts: int(ev.Attempts),
				Policy: policy, At: s.deps.Clock.Now(), Hours: svc.Hours, Window: svc.Window}
			// A retry counts in its bucket too (book.go).
			return r, s.hold(ctx, e.ID, st, r)
		}
	case *agentv1.InteractionAccepted:
		// The bus carries the callback id as the correlation of its chain.
		id = e.Correlation
		cmd = schedule.NoteAccepted{InteractionID: ev.InteractionId, Agent: ev.AgentId, At: s.deps.Clock.Now()}
	default:
		return nil
	}
	if id == "" {
		// Retrying cannot give it an id: set it aside rather than block the topic.
		s.deps.Log.Warn("skipping a callback event without id", "type", e.Type, "event", e.ID)
		return nil
	}
	var err error
	if mk != nil {
		err = s.executeWithPlace(ctx, id, eventstore.Cause{ID: e.ID, Correlation: id}, mk)
	} else {
		_, err = s.execute(ctx, id, eventstore.Cause{ID: e.ID, Correlation: id}, cmd)
	}
	if errors.Is(err, schedule.ErrNotScheduled) || errors.Is(err, schedule.ErrCancelled) || errors.Is(err, schedule.ErrAccepted) {
		// A reschedule of a callback cancelled meanwhile: nothing to retry.
		s.deps.Log.Info("reschedule refused", "callback", id, "reason", err)
		return nil
	}
	return err
}

// move builds the command of the contact's (or an API client's, or a
// supervisor's) move of a callback: the agent's path, save that it is
// refused once an agent took the callback (the call is under way), that
// once the callback is due the router is asked first and the move applies
// only as it tells it on (schedule.MoveOf: withdrawn is the interaction it
// withdrew), and that its place is booked as a new request's is (book.go): intake refused
// a full slot of a service that refuses them, so a full one here is a race
// for the last place, or a service that moves such requests; either way it
// moves.
func (s *Service) move(cause string, ev *callbackv1.CallbackRescheduleRequested, withdrawn string) func(context.Context, schedule.State) (schedule.Command, error) {
	return func(ctx context.Context, st schedule.State) (schedule.Command, error) {
		step := schedule.MoveOf(st, withdrawn)
		if step == schedule.MoveIgnored {
			return nil, nil
		}
		svc := s.service(st.Request.GetService())
		r := schedule.Reschedule{At: s.deps.Clock.Now(), Hours: svc.Hours, Window: svc.Window, Reason: ev.Reason, Contact: true,
			TTL: svc.TTL, Withdrawn: withdrawn}
		if ev.DesiredTime != nil {
			r.DueAt = ev.DesiredTime.AsTime()
		}
		if r.Reason == "" {
			r.Reason = "rescheduled by the contact"
		}
		if ev.PersonalAgent != "" {
			// A supervisor's reassign (issue 14): due now for that agent,
			// as an agent's personal callback; no booking, as theirs.
			r.Personal = ev.PersonalAgent
			return r, nil
		}
		if step == schedule.MoveAsksRouter {
			return r, nil // booked once the router told it on, if it does
		}
		moved, err := s.rebook(ctx, cause, st, r)
		r.Moved = moved
		return r, err
	}
}

// retryPolicy is the policy of an outcome (busy, no_answer, failed) or of a
// disposition code (disposition:<code>).
func retryPolicy(r serviceconf.Retry, outcome string) (serviceconf.Policy, bool) {
	if code, ok := strings.CutPrefix(outcome, "disposition:"); ok {
		p, ok := r.Dispositions[code]
		return p, ok && p.Attempts > 1
	}
	return r.For(serviceconf.Outcome(outcome))
}
