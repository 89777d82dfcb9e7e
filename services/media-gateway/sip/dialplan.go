package sip

import (
	"context"
	"errors"

	sipgosip "github.com/emiago/sipgo/sip"
)

// Contact-first dialling: the trunk rings the contact, and only once the
// contact answered is the agent's phone rung, so that no agent waits through
// a contact's ringing, busy or voicemail. The price is a contact who answers
// and waits for the agent: the agent's ring timeout bounds that wait, and a
// contact whose agent does not answer is hung up on (BYE), never left
// connected to nothing.

var errContactHungUp = errors.New("contact hung up")

// reasonContactHungUpEarly: contact-first, the contact hung up while the
// agent's phone rang.
const reasonContactHungUpEarly = "contact hung up before the agent answered"

// DialContactFirst is Dial with the legs in the other order: it dials number
// (E.164) through the trunk first and, once the contact answers, rings the
// agent's phone (agentURI, as for Dial, "registered:<user>" included). It
// returns once the agent answered (Connected) or the attempt failed.
//
// report receives ContactRinging, then AgentRinging, AgentAnswered and
// Connected (the agent's answer connects the call), or Failed; after
// Connected, one Ended. The rules of Dial's report hold.
//
// Outcomes are Dial's: the contact not answering gives OutcomeBusy,
// OutcomeNoAnswer, OutcomeInvalidNumber or OutcomeFailed as the trunk says;
// the agent not answering, rejecting or unreachable gives
// OutcomeAgentUnavailable, after the contact has been hung up on; the
// contact hanging up while the agent's phone rings cancels the agent leg and
// gives OutcomeNoAnswer with reason "contact hung up before the agent
// answered". Cancelling ctx and stopping the gateway behave as for Dial.
func (g *Gateway) DialContactFirst(ctx context.Context, id, agentURI, number string, report func(Progress)) (*Call, error) {
	return g.dial(ctx, id, agentURI, number, report, contactFirst)
}

// inviteContact places the contact's leg; answer is invite's.
func (d *dial) inviteContact(ctx context.Context, number string, answer func(*leg) bool) (*leg, error) {
	return d.invite(ctx, roleContact, d.g.trunkURI(number), d.g.cfg.ContactRingTimeout, ContactRinging, answer)
}

func (d *dial) runContactFirst(ctx context.Context, agentURI sipgosip.Uri, number string) (*Call, error) {
	contact, err := d.inviteContact(ctx, number, nil)
	if err != nil {
		return nil, d.contactOutcome(ctx, err)
	}
	d.log.Info("sip: contact answered, ringing the agent")

	// The contact hanging up while the agent rings cancels the agent leg.
	actx, stopAgent := context.WithCancelCause(ctx)
	stopWatch := context.AfterFunc(contact.dialog.Context(), func() { stopAgent(errContactHungUp) })
	d.up = []*leg{contact} // reported with the agent's ringing: up while it rings
	agent, err := d.invite(actx, roleAgent, agentURI, d.g.cfg.AgentRingTimeout, AgentRinging, d.answerAs(AgentAnswered))
	d.up = nil
	stopWatch()
	stopAgent(nil)
	if err != nil {
		d.hangupAfterFailure(ctx, contact)
		var le *legError
		if errors.As(err, &le) && errors.Is(le.cause, errContactHungUp) && ctx.Err() == nil {
			return nil, &OutcomeError{Outcome: OutcomeNoAnswer, Reason: reasonContactHungUpEarly}
		}
		return nil, d.agentOutcome(ctx, err)
	}
	// The agent's answer was reported with the contact's leg before its
	// ACK (invite).
	if ctx.Err() != nil || contact.dialog.LoadState() == sipgosip.DialogStateEnded {
		// Cancelled, stopped or hung up just as the agent answered.
		d.hangupAfterFailure(ctx, agent, contact)
		if ctx.Err() == nil {
			return nil, &OutcomeError{Outcome: OutcomeNoAnswer, Reason: reasonContactHungUpEarly}
		}
		return nil, d.cancelled(ctx)
	}

	call := newCall(d, agent, contact)
	d.report(answered(Connected, agent, contact))
	d.log.Info("sip: connected")
	call.start()
	return call, nil
}
