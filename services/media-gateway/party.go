package mediagateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/phone"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	"github.com/ringback/ringback/services/media-gateway/call"
	"github.com/ringback/ringback/services/media-gateway/telephony"
)

// Third parties: blind transfer, consultation, conference. The party's
// steps (ringing, answered, gone) come back through the call's report, like
// every other step of the call, and are recorded in its stream there; what
// is recorded here is only a request that could not even start.

// ringParty rings a party for a consultation or a blind transfer. The ring
// lasts up to the ring timeout, so it runs beside the inbox, not in it: a
// ConsultEndRequested must be able to cancel it.
func (s *Service) ringParty(ctx context.Context, e envelope.Envelope, callID, interactionID string, p *agentv1.Party,
	purpose mediav1.PartyPurpose) error {
	action := call.ActionConsult
	if purpose == mediav1.PartyPurpose_PARTY_PURPOSE_TRANSFER {
		action = call.ActionTransfer
	}
	party, target, err := partyOf(p)
	if err == nil && target.Number != "" {
		if perr := s.plan.Check(target.Number); perr != nil {
			err = &telephony.OutcomeError{Outcome: telephony.OutcomeInvalidNumber, Reason: perr.Error()}
		}
	}
	party.Purpose = purpose
	party.Browser, party.BrowserURL = s.browserRing(target.AgentURI)
	l := s.calls.connectedCall(callID)
	switch {
	case err != nil:
	case l == nil:
		err = errNotHere
	case !s.calls.setParty(callID, party):
		err = telephony.ErrPartyOnCall
	}
	if err != nil {
		return s.controlFailed(ctx, e, callID, interactionID, action, err)
	}
	s.deps.Log.InfoContext(ctx, "ringing a third party", "call", callID, "action", action, "party", party.Display)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ring := l.call.Consult
		if purpose == mediav1.PartyPurpose_PARTY_PURPOSE_TRANSFER {
			ring = l.call.Transfer
		}
		err := ring(s.runCtx, target)
		if err == nil {
			return
		}
		s.deps.Log.Info("third party not connected", "call", callID, "action", action, "err", err)
		// Once rung, the party's PartyLeft (which forgets the party) said
		// how it ended; a request refused before any ringing is recorded
		// here, for the agent to see.
		if s.calls.party(callID).Phase == call.NoParty {
			return
		}
		s.calls.clearParty(callID)
		if ferr := s.controlFailed(s.writeCtx(), e, callID, interactionID, action, err); ferr != nil {
			s.deps.Log.Error("record failed third party", "call", callID, "err", ferr)
		}
	}()
	return nil
}

// endConsult completes or cancels a consultation: transfer, conference, or
// drop the party.
func (s *Service) endConsult(ctx context.Context, e envelope.Envelope, ev *agentv1.ConsultEndRequested) error {
	l := s.calls.connectedCall(ev.CallId)
	var (
		action call.Action
		do     func(context.Context) error
	)
	switch ev.Completion {
	case agentv1.ConsultCompletion_CONSULT_COMPLETION_TRANSFER:
		action = call.ActionCompleteTransfer
		if l != nil {
			do = l.call.CompleteTransfer
		}
	case agentv1.ConsultCompletion_CONSULT_COMPLETION_CONFERENCE:
		action = call.ActionConference
		if l != nil {
			do = l.call.Conference
		}
	case agentv1.ConsultCompletion_CONSULT_COMPLETION_CANCEL:
		action = call.ActionEndConsultation
		if l != nil {
			do = l.call.DropParty
		}
	default:
		return s.controlFailed(ctx, e, ev.CallId, ev.InteractionId, call.ActionEndConsultation,
			fmt.Errorf("unknown completion %v", ev.Completion))
	}
	err := errNotHere
	if do != nil {
		err = do(ctx)
	}
	if err != nil {
		return s.controlFailed(ctx, e, ev.CallId, ev.InteractionId, action, err)
	}
	return nil
}

// controlFailed records a request that could not be carried out, for the
// agent to see (call.Decide: while the call exists).
func (s *Service) controlFailed(ctx context.Context, e envelope.Envelope, callID, interactionID string, action call.Action, cause error) error {
	s.deps.Log.WarnContext(ctx, "call control failed", "call", callID, "interaction", interactionID, "action", action, "err", cause)
	_, err := s.execute(ctx, callID, eventstore.Cause{ID: e.ID, Correlation: e.Correlation},
		call.Control{Action: action, Failed: reasonOf(cause), At: s.deps.Clock.Now()})
	return err
}

// reasonOf is the agent's reading of why a control failed.
func reasonOf(err error) string {
	var oe *telephony.OutcomeError
	switch {
	case errors.As(err, &oe) && oe.Outcome == telephony.OutcomeInvalidNumber && oe.Reason != "":
		// Which rule of the dial plan refused it (never the number).
		return oe.Outcome.String() + ": " + oe.Reason
	case errors.As(err, &oe):
		return oe.Outcome.String()
	case errors.Is(err, telephony.ErrPartyOnCall):
		return telephony.ErrPartyOnCall.Error()
	case errors.Is(err, telephony.ErrNoParty):
		return telephony.ErrNoParty.Error()
	case errors.Is(err, telephony.ErrPartyRinging):
		return telephony.ErrPartyRinging.Error()
	case errors.Is(err, telephony.ErrTransferred):
		return telephony.ErrTransferred.Error()
	case errors.Is(err, telephony.ErrCallEnded):
		return telephony.ErrCallEnded.Error()
	}
	return err.Error()
}

// partyOf reads the party of a request.
func partyOf(p *agentv1.Party) (call.Party, telephony.Party, error) {
	switch {
	case p == nil || (p.PhoneNumber == "") == (p.AgentId == ""):
		return call.Party{}, telephony.Party{}, errors.New("the party must be an agent or a number")
	case p.PhoneNumber != "":
		return call.Party{Display: phone.Mask(p.PhoneNumber)}, telephony.Party{Number: p.PhoneNumber}, nil
	case p.PhoneUri == "":
		return call.Party{}, telephony.Party{}, fmt.Errorf("agent %s has no phone", p.AgentId)
	}
	return call.Party{AgentID: p.AgentId, Display: p.AgentId}, telephony.Party{AgentURI: p.PhoneUri}, nil
}
