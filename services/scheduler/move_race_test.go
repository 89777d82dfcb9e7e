package scheduler_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/scheduler"
	"github.com/ringback/ringback/services/scheduler/schedule"
)

// A contact moves a callback that has fallen due while an agent accepts
// it. The router decides between the two on the interaction's stream: the
// agent won here (it tells no withdrawal on), so the move is not applied,
// and the callback is not due again later: the contact is called once, by
// that agent. Applied as asked, as it was, the move had it called now and
// again at the new time.
func TestAMoveRacingAnAcceptIsNotAppliedWhenTheAgentWon(t *testing.T) {
	env, _ := newEnv(t, scheduler.Config{})
	id := request(env, "support", time.Time{})
	due := servicetest.WaitEvent[*callbackv1.CallbackDue](env, schedule.Stream(id))
	later := env.Clock.Now().Add(2 * time.Hour)

	env.Append("intake-callback-"+id, uuid.NewString(), &callbackv1.CallbackRescheduleRequested{CallbackId: id,
		DesiredTime: timestamppb.New(later), At: timestamppb.New(env.Clock.Now())})
	// The move is handled before the accept is (the order in which the
	// old rule applied it): the router is asked, about the interaction due.
	if asked := servicetest.WaitEvent[*callbackv1.CallbackMoveAsked](env, schedule.Stream(id)); asked.InteractionId != due.InteractionId ||
		!asked.Move.DesiredTime.AsTime().Equal(later) {
		t.Fatalf("asked: %v", asked)
	}
	env.AppendAs("agent-session-interaction-"+due.InteractionId, eventstore.Cause{ID: uuid.NewString(), Correlation: id},
		&agentv1.InteractionAccepted{InteractionId: due.InteractionId, AgentId: "a1"})
	servicetest.WaitEvent[*callbackv1.CallbackAccepted](env, schedule.Stream(id))

	advance(t, env, 3*time.Hour)
	time.Sleep(50 * time.Millisecond)
	if got := types(env, schedule.Stream(id)); got != "CallbackScheduled,CallbackDue,CallbackMoveAsked,CallbackAccepted" {
		t.Fatalf("schedule after the agent won the race: %s", got)
	}
}

// The router withdrew the due callback's interaction for the move before
// any agent accepted it: the move applies then, and the callback falls
// due at the new time with a new interaction. A withdrawal told on for an
// interaction that is no longer the callback's current one changes nothing.
func TestAMoveAppliesAsTheRouterWithdrewTheInteraction(t *testing.T) {
	env, _ := newEnv(t, scheduler.Config{})
	id := request(env, "support", time.Time{})
	due := servicetest.WaitEvent[*callbackv1.CallbackDue](env, schedule.Stream(id))
	later := env.Clock.Now().Add(2 * time.Hour)
	move := &callbackv1.CallbackRescheduleRequested{CallbackId: id, DesiredTime: timestamppb.New(later),
		At: timestamppb.New(env.Clock.Now()), Reason: "rescheduled by the visitor"}
	env.Append("intake-callback-"+id, uuid.NewString(), move)
	servicetest.WaitEvent[*callbackv1.CallbackMoveAsked](env, schedule.Stream(id))
	env.AppendAs("router-interaction-"+due.InteractionId, eventstore.Cause{ID: uuid.NewString(), Correlation: id},
		&routingv1.InteractionClosed{InteractionId: due.InteractionId, At: timestamppb.New(env.Clock.Now()),
			Reason: "callback rescheduled by the contact", WithdrawnFor: move})
	re := servicetest.WaitEvent[*callbackv1.CallbackRescheduled](env, schedule.Stream(id))
	if !re.DueAt.AsTime().Equal(later) || re.Reason != "rescheduled by the visitor" {
		t.Fatalf("rescheduled: %v", re)
	}
	advance(t, env, 2*time.Hour)
	eventually(t, "due again at the new time", func() bool {
		return types(env, schedule.Stream(id)) == "CallbackScheduled,CallbackDue,CallbackMoveAsked,CallbackRescheduled,CallbackDue"
	})
	again := env.Events(schedule.Stream(id))[4].(*callbackv1.CallbackDue)
	if again.InteractionId == due.InteractionId {
		t.Fatalf("due again with the withdrawn interaction %s", again.InteractionId)
	}

	// The old interaction's withdrawal told on again (a redelivery, or a
	// late router) moves nothing.
	env.AppendAs("router-interaction-"+due.InteractionId, eventstore.Cause{ID: uuid.NewString(), Correlation: id},
		&routingv1.InteractionClosed{InteractionId: due.InteractionId, At: timestamppb.New(env.Clock.Now()),
			Reason: "callback rescheduled by the contact", WithdrawnFor: move})
	time.Sleep(100 * time.Millisecond)
	if got := types(env, schedule.Stream(id)); got != "CallbackScheduled,CallbackDue,CallbackMoveAsked,CallbackRescheduled,CallbackDue" {
		t.Fatalf("after a stale withdrawal: %s", got)
	}
}
