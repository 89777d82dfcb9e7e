package router

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/proto/catalog"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/router/offer"
	"github.com/ringback/ringback/services/router/queue"
)

// Topics are the topics the router learns from: due callbacks and the
// moves of due ones (scheduler), the agents' states and answers, and
// cancellations (intake).
var Topics = []string{envelope.TopicOf("scheduler"), envelope.TopicOf("agent"), envelope.TopicOf("intake")}

// Only are the event types handle acts on: of intake's and the
// scheduler's topics, the callbacks falling due, moved, cancelled or
// expired (not intake's public states, nor schedules); of agent-session's,
// agents' availability and answers (not their drafts and calls). The rest
// are acknowledged undecoded (TestOnlyLeavesOutNothingHandled).
var Only = map[string][]string{
	envelope.TopicOf("intake"):    callbackTypes,
	envelope.TopicOf("scheduler"): callbackTypes,
	envelope.TopicOf("agent"): {catalog.TypeName(&agentv1.AgentStateChanged{}), catalog.TypeName(&agentv1.AgentLoggedIn{}),
		catalog.TypeName(&agentv1.AgentLoggedOut{}), catalog.TypeName(&agentv1.AcceptRequested{}),
		catalog.TypeName(&agentv1.RejectRequested{}), catalog.TypeName(&agentv1.InteractionDone{})},
}

// callbackTypes are intake's and the scheduler's events the router acts on.
var callbackTypes = []string{catalog.TypeName(&callbackv1.CallbackDue{}), catalog.TypeName(&callbackv1.CallbackCancelled{}),
	catalog.TypeName(&callbackv1.CallbackMoveAsked{}), catalog.TypeName(&callbackv1.CallbackExpired{})}

// Channel is the agent-session channel the router routes on.
const Channel = agentv1.Channel_CHANNEL_WEB_CALLBACK

// readyState is the only agent state in which the router offers.
const readyState = agentv1.AgentState_AGENT_STATE_READY

// handle turns another service's fact into a router command. Offers and
// timeouts are the dispatcher's; the inbox only records facts, so it never
// races the dispatcher into a second offer.
func (s *Service) handle(ctx context.Context, e envelope.Envelope) error {
	now := s.deps.Clock.Now()
	switch ev := e.Event.(type) {
	case *callbackv1.CallbackDue:
		if ev.InteractionId == "" {
			s.deps.Log.WarnContext(ctx, "due callback without interaction id: not routed", "callback", ev.CallbackId, "event", e.ID)
			return nil
		}
		cmd := offer.Queue{InteractionID: ev.InteractionId, CallbackID: ev.CallbackId, Request: ev.Request, At: now,
			CallAttempts: int(ev.Attempts)}
		if ev.FirstDueAt != nil {
			cmd.FirstDue = ev.FirstDueAt.AsTime()
		}
		cmd.Reserve = s.reservation(ev, now)
		if ev.DueAt != nil {
			cmd.ScheduledFor = ev.DueAt.AsTime()
		}
		_, err := s.execute(ctx, ev.InteractionId, eventstore.Cause{ID: e.ID, Correlation: ev.CallbackId}, cmd)
		return err
	case *agentv1.AgentStateChanged:
		if ev.ChannelOrLegacy() != Channel {
			return nil
		}
		return s.setAvailability(ctx, e.ID, ev.AgentId, ev.StateOrLegacy() == readyState, now)
	case *agentv1.AgentLoggedIn:
		// Skills come with the login, from the agent's configuration; the
		// router keeps its own copy so it rebuilds them from its streams.
		return s.recordAgent(ctx, e.ID, ev.AgentId, queue.SetSkills{AgentID: ev.AgentId, Skills: ev.Skills, At: now})
	case *agentv1.AgentLoggedOut:
		return s.setAvailability(ctx, e.ID, ev.AgentId, false, now)
	case *agentv1.AcceptRequested:
		return s.answer(ctx, e, ev.InteractionId, offer.Accept{Agent: ev.AgentId, OfferID: ev.OfferId, At: now})
	case *agentv1.RejectRequested:
		return s.answer(ctx, e, ev.InteractionId, offer.Reject{Agent: ev.AgentId, OfferID: ev.OfferId, At: now})
	case *agentv1.InteractionDone:
		return s.answer(ctx, e, ev.InteractionId, offer.Close{At: now, Reason: "done"})
	case *callbackv1.CallbackCancelled:
		return s.withdraw(ctx, e.ID, ev.CallbackId, "callback cancelled", now)
	case *callbackv1.CallbackMoveAsked:
		// The contact asked for another time (or a supervisor reassigned
		// it) after the callback fell due: its interaction leaves the
		// queue, and the InteractionClosed tells the move on to the
		// scheduler, whose CallbackDue at the new time queues a new one.
		// An accepted one stays, and the move is not told on: the agent's
		// call goes ahead, once. Decided on the interaction's stream, which
		// the accept is too; the scheduler's stream brings this after the
		// CallbackDue that queued it.
		why := "callback rescheduled by the contact"
		if agent := ev.GetMove().GetPersonalAgent(); agent != "" {
			why = "callback reassigned by a supervisor to " + agent
		}
		if ev.InteractionId == "" {
			return nil
		}
		_, err := s.execute(ctx, ev.InteractionId, eventstore.Cause{ID: e.ID, Correlation: ev.CallbackId},
			offer.Close{At: now, Reason: why, OnlyUnaccepted: true, WithdrawnFor: ev.Move})
		return err
	case *callbackv1.CallbackExpired:
		// Its reason (FAIL_EXPIRED: …) is what the agent holding the offer reads.
		return s.withdraw(ctx, e.ID, ev.CallbackId, ev.Reason, now)
	}
	return nil
}

// answer applies an agent's answer (or Done) to an interaction. The
// correlation is the interaction's callback id, whatever the agent's event
// carried, because intake finds its callback by it.
func (s *Service) answer(ctx context.Context, e envelope.Envelope, interactionID string, cmd offer.Command) error {
	if interactionID == "" {
		return nil
	}
	cb, err := s.callbackOf(ctx, interactionID)
	if err != nil {
		return err
	}
	if cb == "" {
		cb = e.Correlation
	}
	_, err = s.execute(ctx, interactionID, eventstore.Cause{ID: e.ID, Correlation: cb}, cmd)
	return err
}

// callbackOf is the callback of an interaction, from the model when it has
// folded it, else from the stream.
func (s *Service) callbackOf(ctx context.Context, interactionID string) (string, error) {
	s.mu.Lock()
	cb, ok := s.model.CallbackOf(interactionID)
	s.mu.Unlock()
	if ok {
		return cb, nil
	}
	l, err := eventstore.Load(ctx, s.deps.Store, offer.Stream(interactionID), interactions)
	if err != nil {
		return "", err
	}
	return l.State.CallbackID, nil
}

// setAvailability records an agent's readiness on the web-callback channel.
func (s *Service) setAvailability(ctx context.Context, causeID, agentID string, ready bool, at time.Time) error {
	return s.recordAgent(ctx, causeID, agentID, queue.SetAvailability{AgentID: agentID, Ready: ready, At: at})
}

// recordAgent runs a command on the agent's router-agent stream.
func (s *Service) recordAgent(ctx context.Context, causeID, agentID string, cmd queue.AgentCommand) error {
	if agentID == "" {
		return nil
	}
	// Through the cache: an agent's stream grows with every call of every day.
	_, err := eventstore.ExecuteCached(ctx, s.deps.Store, s.agentCache, queue.AgentStream(agentID), agents, eventstore.Cause{ID: causeID},
		func(st queue.Availability) ([]proto.Message, error) { return queue.DecideAgent(st, cmd), nil })
	return err
}

// withdraw takes a callback's open interaction out of the queue, and its
// offer from the agent who holds one, unless an agent accepted it already.
func (s *Service) withdraw(ctx context.Context, eventID, callbackID, reason string, now time.Time) error {
	s.mu.Lock()
	id, open := s.model.InteractionOf(callbackID)
	s.mu.Unlock()
	if !open {
		return nil
	}
	_, err := s.execute(ctx, id, eventstore.Cause{ID: eventID, Correlation: callbackID},
		offer.Close{At: now, Reason: reason, OnlyUnaccepted: true})
	return err
}

// reservation is who a due callback is kept for, and until when: the agent
// who rescheduled it as personal, else the visitor's preferred agent, for
// the service's wait.
func (s *Service) reservation(ev *callbackv1.CallbackDue, now time.Time) offer.Reservation {
	svc := s.cfg.ServiceSet.Of(ev.Request.GetService())
	switch {
	case ev.PersonalAgent != "" && svc.PersonalWait > 0:
		return offer.Reservation{Agent: ev.PersonalAgent, Until: now.Add(svc.PersonalWait), Why: "personal"}
	case ev.Request.GetPreferredAgent() != "" && svc.PreferredWait > 0:
		return offer.Reservation{Agent: ev.Request.GetPreferredAgent(), Until: now.Add(svc.PreferredWait), Why: "preferred"}
	}
	return offer.Reservation{}
}
