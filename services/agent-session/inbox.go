package agentsession

import (
	"context"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/proto/catalog"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	dispositionv1 "github.com/ringback/ringback/proto/ringback/disposition/v1"
	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/agent-session/agent"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// Topics are the topics agent-session learns from: offers, the call, the disposition.
var Topics = []string{envelope.TopicOf("router"), envelope.TopicOf("media"), envelope.TopicOf("disposition"),
	envelope.TopicOf("history")}

// Only are the event types handle acts on, of each topic: history's is
// its trail, dozens of copies per callback, of which the desktop needs the
// case data an agent edited; of the router's, the gateway's and
// disposition's, what moves an agent's interaction. The others are
// acknowledged undecoded (TestOnlyLeavesOutNothingHandled).
var Only = map[string][]string{
	envelope.TopicOf("history"):     {catalog.TypeName(&historyv1.CaseDataUpdated{})},
	envelope.TopicOf("router"):      {catalog.TypeName(&routingv1.InteractionOffered{}), catalog.TypeName(&routingv1.OfferAccepted{}), catalog.TypeName(&routingv1.OfferRejected{}), catalog.TypeName(&routingv1.OfferTimedOut{}), catalog.TypeName(&routingv1.AgentMissedOffers{}), catalog.TypeName(&routingv1.InteractionClosed{})},
	envelope.TopicOf("media"):       {catalog.TypeName(&mediav1.AgentRinging{}), catalog.TypeName(&mediav1.CallConnected{}), catalog.TypeName(&mediav1.DialFailed{}), catalog.TypeName(&mediav1.CallEnded{}), catalog.TypeName(&mediav1.CallHeld{}), catalog.TypeName(&mediav1.CallControlFailed{}), catalog.TypeName(&mediav1.PartyRinging{}), catalog.TypeName(&mediav1.PartyConnected{}), catalog.TypeName(&mediav1.ConferenceStarted{}), catalog.TypeName(&mediav1.CallTransferred{}), catalog.TypeName(&mediav1.PartyLeft{}), catalog.TypeName(&mediav1.MuteChanged{}), catalog.TypeName(&mediav1.RecordingStarted{}), catalog.TypeName(&mediav1.RecordingStopped{})},
	envelope.TopicOf("disposition"): {catalog.TypeName(&dispositionv1.DispositionSet{})},
}

// endOf is why the gateway says a call or a party's leg ended: its
// end_reason, or for an event from a gateway before end_reason existed,
// OTHER with its reason text (shown as the gateway wrote it, never matched).
func endOf(reason mediav1.EndReason, text string) interaction.Cause {
	if reason == mediav1.EndReason_END_REASON_UNSPECIFIED {
		return interaction.Cause{End: mediav1.EndReason_END_REASON_OTHER, Detail: text}
	}
	return interaction.Cause{End: reason}
}

func (s *Service) handle(ctx context.Context, e envelope.Envelope) error {
	at := e.Time
	if at.IsZero() {
		at = s.deps.Clock.Now()
	}
	cause := eventstore.Cause{ID: e.ID, Correlation: e.Correlation}
	var err error
	switch ev := e.Event.(type) {
	case *routingv1.InteractionOffered:
		p := &agentv1.InteractionPresented{
			InteractionId: ev.InteractionId, CallbackId: ev.CallbackId, AgentId: ev.AgentId, Request: ev.Request,
			ExpiresAt: ev.ExpiresAt, QueuedAt: ev.QueuedAt, ScheduledFor: ev.ScheduledFor, OfferId: ev.OfferId, Attempts: ev.Attempts,
			At: timestamppb.New(at), CanReject: true}
		if aa := s.agents.Get(ev.AgentId).AutoAnswerSetting(); aa != nil {
			p.AutoAnswerAt, p.CanReject = timestamppb.New(autoAnswerAt(ev, aa.After.Duration)), aa.CanReject
		}
		_, err = s.onInteraction(ctx, ev.InteractionId, cause, interaction.Present{Offer: p})
	case *routingv1.OfferAccepted:
		if _, err = s.onInteraction(ctx, ev.InteractionId, cause, interaction.Confirm{Agent: ev.AgentId, At: at}); err == nil {
			_, err = s.onAgent(ctx, ev.AgentId, cause, agent.SetState{Agent: ev.AgentId, Channel: agent.WebCallback,
				State: agent.Busy, Cause: agentv1.StateCause_STATE_CAUSE_HANDLING_CALLBACK, At: at, System: true})
		}
	case *routingv1.OfferRejected:
		_, err = s.onInteraction(ctx, ev.InteractionId, cause, interaction.Withdraw{Agent: ev.AgentId, Reason: "Rejected", At: at})
	case *routingv1.OfferTimedOut:
		_, err = s.onInteraction(ctx, ev.InteractionId, cause, interaction.Withdraw{Agent: ev.AgentId, Reason: "Timed out", At: at})
	case *routingv1.AgentMissedOffers:
		// The router stopped offering: the desktop shows why.
		_, err = s.onAgent(ctx, ev.AgentId, cause, agent.SetState{Agent: ev.AgentId, Channel: agent.WebCallback,
			State: agent.NotReady, Cause: agentv1.StateCause_STATE_CAUSE_MISSED_OFFER, At: at, System: true})
	case *routingv1.InteractionClosed:
		_, err = s.onInteraction(ctx, ev.InteractionId, cause, interaction.Withdraw{Reason: closedReason(ev.Reason), At: at})
	case *mediav1.AgentRinging:
		if ev.Browser {
			_, err = s.onInteraction(ctx, ev.InteractionId, cause, interaction.RingBrowser{CallID: ev.CallId, URL: ev.BrowserUrl, At: at})
		}
	case *mediav1.CallConnected:
		var out eventstore.Outcome[interaction.State]
		out, err = s.onInteraction(ctx, ev.InteractionId, cause, interaction.Progress{CallID: ev.CallId, Status: interaction.Connected, At: at})
		if err == nil && len(out.Events) > 0 {
			s.observeDueToConnect(out.State, at)
		}
	case *mediav1.DialFailed:
		err = s.dialFailed(ctx, cause, ev, at)
	case *mediav1.CallEnded:
		err = s.callEnded(ctx, cause, ev, at)
	case *mediav1.CallHeld:
		status := interaction.Connected
		if ev.Held {
			status = interaction.OnHold
		}
		err = s.progress(ctx, cause, ev.InteractionId, ev.CallId, status, interaction.Cause{}, at)
	case *mediav1.CallControlFailed:
		err = s.controlFailed(ctx, cause, ev, at)
	case *mediav1.PartyRinging:
		_, err = s.onInteraction(ctx, ev.InteractionId, cause, interaction.PartyProgress{CallID: ev.CallId, Status: interaction.PartyRinging,
			Party: ev.Party, Browser: ev.Browser, BrowserURL: ev.BrowserUrl, At: at})
	case *mediav1.PartyConnected:
		err = s.partyProgress(ctx, cause, ev.InteractionId, ev.CallId, interaction.PartyConsulting, ev.Party, at)
	case *mediav1.ConferenceStarted:
		err = s.partyProgress(ctx, cause, ev.InteractionId, ev.CallId, interaction.PartyConference, ev.Party, at)
	case *mediav1.CallTransferred:
		err = s.callTransferred(ctx, cause, ev, at)
	case *mediav1.PartyLeft:
		err = s.partyLeft(ctx, cause, ev, at)
	case *mediav1.MuteChanged:
		_, err = s.onInteraction(ctx, ev.InteractionId, cause, interaction.Flags{CallID: ev.CallId, Muted: &ev.Muted, At: at})
	case *mediav1.RecordingStarted:
		on := true
		_, err = s.onInteraction(ctx, ev.InteractionId, cause, interaction.Flags{CallID: ev.CallId, Recording: &on, At: at})
	case *mediav1.RecordingStopped:
		off := false
		_, err = s.onInteraction(ctx, ev.InteractionId, cause, interaction.Flags{CallID: ev.CallId, Recording: &off, At: at})
	case *historyv1.CaseDataUpdated:
		_, err = s.onInteraction(ctx, ev.InteractionId, cause, interaction.NoteCaseData{CaseData: ev.CaseData, At: at})
	case *dispositionv1.DispositionSet:
		_, err = s.onInteraction(ctx, ev.InteractionId, cause, interaction.NoteDisposition{Code: ev.Code, At: at})
	}
	return ignoreRejection(err)
}

// retryOutcome is the outcome a retry policy is written for.
var retryOutcome = map[mediav1.Outcome]serviceconf.Outcome{
	mediav1.Outcome_OUTCOME_BUSY:      serviceconf.Busy,
	mediav1.Outcome_OUTCOME_NO_ANSWER: serviceconf.NoAnswer,
	mediav1.Outcome_OUTCOME_FAILED:    serviceconf.Failed,
}

// dialFailed shows the agent why the call did not connect, then applies the
// service's retry policy: the scheduler's next attempt ends the interaction
// (as the agent's Done would), the agent's leaves it at Ready to Call.
func (s *Service) dialFailed(ctx context.Context, cause eventstore.Cause, ev *mediav1.DialFailed, at time.Time) error {
	_, err := s.onInteraction(ctx, ev.InteractionId, cause, interaction.Progress{CallID: ev.CallId, Status: interaction.ReadyToCall,
		Cause: interaction.Cause{Outcome: ev.Outcome}, Outcome: string(retryOutcome[ev.Outcome]), At: at})
	if err != nil {
		return err
	}
	if _, ok := retryOutcome[ev.Outcome]; !ok {
		return nil
	}
	retry := eventstore.Cause{ID: cause.ID + "/retry", Correlation: cause.Correlation}
	out, err := s.onInteraction(ctx, ev.InteractionId, retry, interaction.AutoRetry{Services: s.cfg.ServiceSet, At: at})
	if err != nil || out.State.Phase != interaction.Done {
		return err
	}
	// Ended for the retry: the agent goes on as after their own Done. On a
	// redelivery too, since a crash may have come between the two.
	return s.afterCallWork(ctx, out.State)
}

func (s *Service) progress(ctx context.Context, cause eventstore.Cause, id, callID string, status agentv1.CallStatus, why interaction.Cause,
	at time.Time) error {
	_, err := s.onInteraction(ctx, id, cause, interaction.Progress{CallID: callID, Status: status, Cause: why, At: at})
	return err
}

// ignoreRejection drops domain refusals: a fact from the bus that no longer
// applies is not a failure to retry.
func ignoreRejection(err error) error {
	if err == nil || isDomain(err) {
		return nil
	}
	return err
}

// closedReason is what the agent whose offer is withdrawn reads.
func closedReason(router string) string {
	if rest, ok := strings.CutPrefix(router, "FAIL_EXPIRED: "); ok {
		return "Expired: " + rest
	}
	return "Cancelled"
}

// observeDueToConnect times a connected call from its callback's due time.
// Observed by the replica that recorded the connection, once per call.
func (s *Service) observeDueToConnect(st interaction.State, connected time.Time) {
	due := st.Scheduled
	if due.IsZero() || due.Unix() <= 0 {
		due = st.QueuedAt
	}
	if due.IsZero() || due.Unix() <= 0 {
		return
	}
	s.dueToConnect.Observe(max(0, connected.Sub(due)).Seconds())
}
