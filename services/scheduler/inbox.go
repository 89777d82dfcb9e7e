package scheduler

import (
	"context"
	"errors"
	"strings"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/serviceconf"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/scheduler/schedule"
)

// Topics scheduler learns requests, cancellations and contacts' reschedules
// (intake) and agents' reschedules (agent-session) from; exported so the binary can hold its
// relay until every consumer listens.
var Topics = []string{envelope.TopicOf("intake"), envelope.TopicOf("agent")}

// handle turns intake's facts into schedule commands. The bus event id is the
// cause, so a redelivered message appends nothing.
func (s *Service) handle(ctx context.Context, e envelope.Envelope) error {
	var (
		id  string
		cmd any
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
		l, err := eventstore.Load(ctx, s.deps.Store, schedule.Stream(id), aggregate)
		if err != nil {
			return err
		}
		svc := s.service(l.State.Request.GetService())
		r := schedule.Reschedule{DueAt: ev.Time.AsTime(), At: s.deps.Clock.Now(),
			Hours: svc.Hours, Window: svc.Window, Reason: "rescheduled by agent " + ev.AgentId}
		if ev.Personal {
			r.Personal, r.Reason = ev.AgentId, r.Reason+" as a personal callback"
		}
		// Counted in its new bucket (book.go), never refused: the agent
		// promised the contact that time.
		if err := s.hold(ctx, e.ID, l.State, r); err != nil {
			return err
		}
		cmd = r
	case *callbackv1.CallbackRescheduleRequested:
		// The contact's (or an API client's) move: the agent's path, save
		// that it is refused once an agent took the callback (the call is
		// under way), and that its place is booked as a new request's is
		// (book.go): intake refused a full slot of a service that refuses
		// them, so a full one here is a race for the last place, or a
		// service that moves such requests; either way it moves.
		id = ev.CallbackId
		l, err := eventstore.Load(ctx, s.deps.Store, schedule.Stream(id), aggregate)
		if err != nil {
			return err
		}
		svc := s.service(l.State.Request.GetService())
		r := schedule.Reschedule{At: s.deps.Clock.Now(), Hours: svc.Hours, Window: svc.Window, Reason: ev.Reason, Contact: true}
		if ev.DesiredTime != nil {
			r.DueAt = ev.DesiredTime.AsTime()
		}
		if r.Reason == "" {
			r.Reason = "rescheduled by the contact"
		}
		moved, err := s.rebook(ctx, e.ID, l.State, r)
		if err != nil {
			return err
		}
		r.Moved = moved
		cmd = r
	case *agentv1.InteractionDone:
		if !ev.Rescheduled || ev.RetryOutcome == "" {
			return nil // an agent's reschedule comes as RescheduleRequested
		}
		id = ev.CallbackId
		l, err := eventstore.Load(ctx, s.deps.Store, schedule.Stream(id), aggregate)
		if err != nil {
			return err
		}
		svc := s.service(l.State.Request.GetService())
		policy, ok := retryPolicy(svc.Retry, ev.RetryOutcome)
		if !ok {
			s.deps.Log.Warn("retry asked for an outcome without a policy", "callback", id, "outcome", ev.RetryOutcome)
			return nil
		}
		cmd = schedule.Retry{InteractionID: ev.InteractionId, Outcome: ev.RetryOutcome, Attempts: int(ev.Attempts),
			Policy: policy, At: s.deps.Clock.Now(), Hours: svc.Hours, Window: svc.Window}
		// A retry counts in its bucket too (book.go).
		if err := s.hold(ctx, e.ID, l.State, cmd); err != nil {
			return err
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
	_, err := s.execute(ctx, id, eventstore.Cause{ID: e.ID, Correlation: id}, cmd)
	if errors.Is(err, schedule.ErrNotScheduled) || errors.Is(err, schedule.ErrCancelled) || errors.Is(err, schedule.ErrAccepted) {
		// A reschedule of a callback cancelled meanwhile: nothing to retry.
		s.deps.Log.Info("reschedule refused", "callback", id, "reason", err)
		return nil
	}
	return err
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
