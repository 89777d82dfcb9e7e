package agentsession

import (
	"context"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// An agent asked for as a party was made Busy when asked (see askParty);
// the handlers here give them back once the party is over: on PartyLeft,
// which closes every PartyRinging, and for a request that never rang, on
// its CallControlFailed or the end of the call. The party agent is freed
// before the interaction records the end, so that a redelivery after a
// crash between the two still finds whom to free.

func (s *Service) partyProgress(ctx context.Context, cause eventstore.Cause, id, callID string, status agentv1.PartyStatus, party string,
	at time.Time) error {
	_, err := s.onInteraction(ctx, id, cause, interaction.PartyProgress{CallID: callID, Status: status, Party: party, At: at})
	return err
}

func (s *Service) partyLeft(ctx context.Context, cause eventstore.Cause, ev *mediav1.PartyLeft, at time.Time) error {
	if ev.PartyAgentId != "" {
		l, err := eventstore.Load(ctx, s.deps.Store, interaction.Stream(ev.InteractionId), interactions)
		if err != nil {
			return err
		}
		// After Done as well: a transferred call goes on without the
		// interaction, and the party agent is Busy until it ends.
		if l.State.Agent != "" {
			if err := s.release(ctx, cause, ev.PartyAgentId, l.State.Agent, at); err != nil {
				return err
			}
		}
	}
	why := interaction.Cause{Outcome: ev.Outcome}
	if ev.Outcome == mediav1.Outcome_OUTCOME_UNSPECIFIED {
		why = endOf(ev.EndReason, ev.Reason)
	}
	_, err := s.onInteraction(ctx, ev.InteractionId, cause, interaction.PartyProgress{CallID: ev.CallId, Status: interaction.PartyLeft,
		Party: ev.Party, Cause: why, At: at})
	return err
}

// controlFailed records a call control the gateway could not do; a
// transfer or consultation that failed so never rang its party.
func (s *Service) controlFailed(ctx context.Context, cause eventstore.Cause, ev *mediav1.CallControlFailed, at time.Time) error {
	if ev.Action == "transfer" || ev.Action == "consult" {
		unrung := func(t interaction.Third) bool { return t.Status == interaction.PartyNone }
		if err := s.releaseParty(ctx, cause, ev.InteractionId, ev.CallId, unrung, at); err != nil {
			return err
		}
	}
	_, err := s.onInteraction(ctx, ev.InteractionId, cause, interaction.ControlFailed{CallID: ev.CallId, Action: ev.Action,
		Reason: ev.Reason, At: at})
	return err
}

// callEnded: the call's end also ends a request the gateway never answered
// (and a party it did not close, which it should have). A transferred call
// is the party's now: its PartyLeft frees them.
func (s *Service) callEnded(ctx context.Context, cause eventstore.Cause, ev *mediav1.CallEnded, at time.Time) error {
	notTransferred := func(t interaction.Third) bool { return t.Status != interaction.PartyTransferred }
	if err := s.releaseParty(ctx, cause, ev.InteractionId, ev.CallId, notTransferred, at); err != nil {
		return err
	}
	return s.progress(ctx, cause, ev.InteractionId, ev.CallId, interaction.ReadyToCall, endOf(ev.EndReason, ev.Reason), at)
}

// releaseParty frees the agent asked for on call callID if their party is
// one that no PartyLeft will close.
func (s *Service) releaseParty(ctx context.Context, cause eventstore.Cause, id, callID string, unclosed func(interaction.Third) bool,
	at time.Time) error {
	if id == "" {
		return nil
	}
	l, err := eventstore.Load(ctx, s.deps.Store, interaction.Stream(id), interactions)
	if err != nil {
		return err
	}
	st := l.State
	if st.CallID != callID || !st.Third.Asked() || st.Third.Agent == "" || !unclosed(st.Third) {
		return nil
	}
	return s.release(ctx, cause, st.Third.Agent, st.Agent, at)
}
