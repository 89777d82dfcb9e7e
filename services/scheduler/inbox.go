package scheduler

import (
	"context"
	"errors"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/scheduler/schedule"
)

// Topics scheduler learns requests, cancellations (intake) and agents'
// reschedules (agent-session) from; exported so the binary can hold its
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
		cmd = schedule.Schedule{ID: id, Request: ev.Request, At: s.deps.Clock.Now(),
			Hours: s.hours.of(ev.Request.GetService()), Window: s.windows.of(ev.Request.GetService())}
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
		cmd = schedule.Reschedule{DueAt: ev.Time.AsTime(), At: s.deps.Clock.Now(),
			Hours: s.hours.of(l.State.Request.GetService()), Window: s.windows.of(l.State.Request.GetService()), Reason: "rescheduled by agent " + ev.AgentId}
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
	if errors.Is(err, schedule.ErrNotScheduled) || errors.Is(err, schedule.ErrCancelled) {
		// A reschedule of a callback cancelled meanwhile: nothing to retry.
		s.deps.Log.Info("reschedule refused", "callback", id, "reason", err)
		return nil
	}
	return err
}
