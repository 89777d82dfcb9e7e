package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/ringback/ringback/services/media-gateway/telephony"
)

// A third party joins a connected call in one of two ways.
//
// Consult: the contact is put on hold (hearing the hold tone) and the party
// is rung; once the party answers, the agent talks to them alone. The agent
// then completes the consultation as a transfer (CompleteTransfer: the
// contact talks to the party, the agent's leg is hung up), as a conference
// (Conference: the contact is taken off hold and the gateway mixes all
// three), or drops the party (DropParty: the contact stays on hold).
//
// Transfer, blind: the contact is put on hold and the party rung; once the
// party answers, the transfer completes at once. When the party does not
// answer, the call stays with the agent, the contact on hold: the agent
// recovers a failed transfer rather than the contact being cut off.
//
// The party's leg is a leg like the others: its media is anchored and read
// by the bridge, and its hang-up is watched. While a party is on the call
// (ringing or not), Hold and Retrieve are refused: the contact's hold is the
// consultation's.

// Party, Purpose and the controls' errors are the service's (package
// telephony).
type (
	Party   = telephony.Party
	Purpose = telephony.Purpose
)

const (
	PurposeConsult  = telephony.PurposeConsult
	PurposeTransfer = telephony.PurposeTransfer
)

// Errors of the third-party controls (wrapped).
var (
	ErrPartyOnCall  = telephony.ErrPartyOnCall
	ErrNoParty      = telephony.ErrNoParty
	ErrPartyRinging = telephony.ErrPartyRinging
	ErrTransferred  = telephony.ErrTransferred
)

// partyState is where the third party is.
type partyState int

const (
	partyNone partyState = iota
	partyRinging
	partyConsulting
	partyConference
	partyTransferred
)

// Reasons of a PartyLeft report.
const (
	ReasonPartyHungUp  = telephony.ReasonPartyHungUp
	ReasonPartyDropped = telephony.ReasonPartyDropped
)

// Consult puts the contact on hold and rings the party. It returns once the
// party answered (PartyConnected) or did not (PartyLeft with the outcome;
// the error is then an *OutcomeError, or ErrCallEnded). DropParty while
// the party rings cancels it.
func (c *Call) Consult(ctx context.Context, p Party) error {
	return c.ring(ctx, p, PurposeConsult)
}

// Transfer is a blind transfer: it puts the call on hold and rings the
// party; once the party answers, the contact is connected to them and the
// agent's leg hung up (Transferred). When the party does not answer, the
// call stays on hold with the agent (PartyLeft, *OutcomeError).
func (c *Call) Transfer(ctx context.Context, p Party) error {
	return c.ring(ctx, p, PurposeTransfer)
}

func (c *Call) ring(ctx context.Context, p Party, purpose Purpose) error {
	op := "consult"
	if purpose == PurposeTransfer {
		op = "transfer"
	}
	to, err := c.g.partyURI(p)
	if err != nil {
		return c.opError(op, err)
	}

	c.ctl.Lock()
	if err := c.ctlCheck(op); err != nil {
		c.ctl.Unlock()
		return err
	}
	octx, done := c.opContext(ctx)
	defer done()
	if err := c.holdForParty(octx, purpose); err != nil {
		c.ctl.Unlock()
		return c.opError(op, err)
	}
	rctx, cancel := context.WithCancel(octx)
	defer cancel()
	ringing := make(chan struct{})
	c.mu.Lock()
	c.partyState, c.partyPurpose, c.partyCancel, c.partyRing = partyRinging, purpose, cancel, ringing
	c.mu.Unlock()
	c.emit(Progress{Kind: PartyRinging, Purpose: purpose})
	c.ctl.Unlock()

	// PartyRinging went out above, before the INVITE: of the party dial's
	// own reports, its ringing is recorded as PartyAlerting (with the early
	// dialog, which an instance taking over cancels), its answer before
	// its ACK (invite).
	d := &dial{g: c.g, id: c.id, report: func(p Progress) {
		switch p.Kind {
		case PartyRinging:
			p.Kind = PartyAlerting
		case PartyAnswered:
		default:
			return
		}
		p.Purpose = purpose
		c.emit(p)
	}, log: c.log.With("leg", "party")}
	l, err := d.invite(rctx, roleParty, to, c.partyRingTimeout(p), PartyRinging, d.answerAs(PartyAnswered))

	c.ctl.Lock()
	defer c.ctl.Unlock()
	c.mu.Lock()
	stopped := c.stopped
	c.partyCancel, c.partyRing = nil, nil
	if err != nil || stopped {
		c.partyState = partyNone
	} else {
		// Joined under mu: a teardown from now on finds the party and its
		// reader, hangs it up and waits for it.
		c.party, c.partyState = l, partyConsulting
		c.media.attach(chanParty, l)
		c.media.setTopology(topoConsult)
	}
	c.mu.Unlock()
	defer close(ringing)
	if err != nil {
		oe := partyOutcome(err, ctx, octx)
		c.emit(Progress{Kind: PartyLeft, Purpose: purpose, Outcome: oe.Outcome, SIPCode: oe.SIPCode, Reason: oe.Reason})
		c.log.Info("sip: party did not answer", "purpose", op, "error", maskDigits(oe.Error()))
		if c.claimed.Load() {
			return c.opError(op, ErrCallEnded)
		}
		return fmt.Errorf("%s %s: %w", op, c.id, oe)
	}
	if stopped {
		// The call ended while the party rang: nobody to connect them to.
		d.hangupAfterFailure(ctx, l)
		c.emit(Progress{Kind: PartyLeft, Purpose: purpose, Reason: reasonCallEnded, End: EndCallEnded})
		return c.opError(op, ErrCallEnded)
	}
	c.signal()
	if purpose == PurposeConsult {
		c.emit(answered(PartyConnected, l))
		c.log.Info("sip: consulting the party")
		return nil
	}
	// Blind: the party answered, the transfer completes at once.
	if err := c.completeTransfer(octx); err != nil {
		return c.opError(op, err)
	}
	return nil
}

// CompleteTransfer connects the contact to the consulted (or conferenced)
// party and hangs up the agent's leg (Transferred). The call goes on until
// the contact or the party hangs up.
func (c *Call) CompleteTransfer(ctx context.Context) error {
	c.ctl.Lock()
	defer c.ctl.Unlock()
	if err := c.partyCheck("complete transfer"); err != nil {
		return err
	}
	octx, done := c.opContext(ctx)
	defer done()
	if err := c.completeTransfer(octx); err != nil {
		return c.opError("complete transfer", err)
	}
	return nil
}

// completeTransfer runs with ctl held and a party connected.
func (c *Call) completeTransfer(ctx context.Context) error {
	if err := c.retrieveContact(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	purpose, agent := c.partyPurpose, c.agent
	c.agent, c.partyState = nil, partyTransferred
	c.mu.Unlock()
	c.handOver()
	c.emit(Progress{Kind: Transferred, Purpose: purpose})
	c.log.Info("sip: call transferred")
	if err := c.g.hangupLeg(ctx, agent); err != nil {
		// The contact and the party talk: a BYE the agent's phone missed
		// is the phone's problem.
		c.log.Warn("sip: hang up the agent after transfer", "error", maskDigits(err.Error()))
	}
	return nil
}

// handOver leaves the contact and the party talking, the agent's leg out
// of the bridge. The first agent's mute and hold of their own phone were
// theirs: the party starts unmuted, and holds (Hold) as an agent would.
// ctl is held.
func (c *Call) handOver() {
	c.agentHeld = false
	c.media.muted.Store(false)
	c.stopMixer()
	c.media.detach(chanAgent)
	c.media.setTopology(topoTransferred)
	c.signal()
}

// Conference takes the contact off hold and mixes the agent, the contact
// and the consulted party (Conferenced).
func (c *Call) Conference(ctx context.Context) error {
	c.ctl.Lock()
	defer c.ctl.Unlock()
	if err := c.partyCheck("conference"); err != nil {
		return err
	}
	c.mu.Lock()
	st := c.partyState
	c.mu.Unlock()
	if st == partyConference {
		return nil
	}
	octx, done := c.opContext(ctx)
	defer done()
	if err := c.retrieveContact(octx); err != nil {
		return c.opError("conference", err)
	}
	c.mu.Lock()
	c.partyState = partyConference
	c.mu.Unlock()
	c.media.mix.Store(startMixer(c.media))
	c.media.setTopology(topoConference)
	c.emit(Progress{Kind: Conferenced})
	c.log.Info("sip: conference")
	return nil
}

// DropParty ends the party's part: it cancels a party still ringing, or
// hangs up a consulted or conferenced party (PartyLeft). After a
// consultation the contact stays on hold; after a conference agent and
// contact talk on.
func (c *Call) DropParty(ctx context.Context) error {
	c.mu.Lock()
	st, cancel, ringing := c.partyState, c.partyCancel, c.partyRing
	c.mu.Unlock()
	if st == partyRinging && cancel != nil {
		cancel() // ring reports PartyLeft (cancelled)
		select {
		case <-ringing:
			return nil
		case <-ctx.Done():
			return c.opError("drop party", ctx.Err())
		}
	}
	c.ctl.Lock()
	defer c.ctl.Unlock()
	if err := c.partyCheck("drop party"); err != nil {
		return err
	}
	c.partyGone(ctx, EndPartyDropped)
	return nil
}

// partyHungUp is watch's: the party's phone hung up during a consultation
// or a conference.
func (c *Call) partyHungUp(l *leg) {
	c.ctl.Lock()
	defer c.ctl.Unlock()
	c.mu.Lock()
	current := c.party == l && !c.stopped
	c.mu.Unlock()
	if current {
		ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
		defer cancel()
		c.partyGone(ctx, EndPartyHungUp)
	}
}

// partyGone runs with ctl held and a party consulting or conferenced: back
// to agent and contact, hang up the party's leg, report PartyLeft.
func (c *Call) partyGone(ctx context.Context, end EndReason) {
	reason := end.String()
	c.mu.Lock()
	l, purpose := c.party, c.partyPurpose
	c.party, c.partyState = nil, partyNone
	c.mu.Unlock()
	c.stopMixer()
	c.media.setTopology(topoPair)
	c.media.detach(chanParty)
	c.signal()
	if err := c.g.hangupLeg(ctx, l); err != nil {
		c.log.Warn("sip: hang up the party", "error", maskDigits(err.Error()))
	}
	c.emit(Progress{Kind: PartyLeft, Purpose: purpose, Reason: reason, End: end})
	c.log.Info("sip: party left", "reason", reason)
}

func (c *Call) stopMixer() {
	if m := c.media.mix.Swap(nil); m != nil {
		m.stop()
	}
}

// ctlCheck: the call is up, the agent on it, and no party. ctl is held.
func (c *Call) ctlCheck(op string) error {
	if c.claimed.Load() {
		return c.opError(op, ErrCallEnded)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.partyState {
	case partyNone:
		return nil
	case partyTransferred:
		return c.opError(op, ErrTransferred)
	}
	return c.opError(op, ErrPartyOnCall)
}

// holdCheck: the call is up with no party, or transferred: whoever talks
// to the contact then (the agent the call was transferred to, issue 15)
// holds and retrieves it as the first agent did. It returns the leg on the
// agent's side. ctl is held.
func (c *Call) holdCheck(op string) (*leg, error) {
	if c.claimed.Load() {
		return nil, c.opError(op, ErrCallEnded)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.partyState {
	case partyNone:
		return c.agent, nil
	case partyTransferred:
		return c.party, nil
	}
	return nil, c.opError(op, ErrPartyOnCall)
}

// partyCheck: a party is on the call and answered. ctl is held.
func (c *Call) partyCheck(op string) error {
	if c.claimed.Load() {
		return c.opError(op, ErrCallEnded)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.partyState {
	case partyConsulting, partyConference:
		return nil
	case partyRinging:
		return c.opError(op, ErrPartyRinging)
	case partyTransferred:
		return c.opError(op, ErrTransferred)
	}
	return c.opError(op, ErrNoParty)
}

// holdForParty puts the contact on hold for the party's ring, with ctl
// held. A consultation needs the agent's phone talking: if Hold had held
// it, it is taken back. A blind transfer holds the agent too, as Hold does.
func (c *Call) holdForParty(ctx context.Context, purpose Purpose) error {
	if !c.onHold.Load() {
		if err := c.holdContact(ctx); err != nil {
			return err
		}
		c.onHold.Store(true)
	}
	if purpose == PurposeConsult && c.agentHeld {
		if err := reinvite(ctx, c.agent.dialog.Unhold); err != nil {
			return fmt.Errorf("agent leg: %w", err)
		}
		c.agentHeld = false
	}
	return nil
}

// partyURI is where to ring a party.
func (g *Gateway) partyURI(p Party) (sipgosip.Uri, error) {
	switch {
	case (p.AgentURI == "") == (p.Number == ""):
		return sipgosip.Uri{}, errors.New("a party is an agent's phone or a number, exactly one")
	case p.Number != "":
		if oe := refusedNumber(p.Number); oe != nil {
			return sipgosip.Uri{}, oe
		}
		return g.trunkURI(p.Number), nil
	}
	uri := p.AgentURI
	if user, ok := strings.CutPrefix(uri, WebPhonePrefix); ok {
		// A colleague whose phone is their browser rings there as their own
		// calls do; their desktop answers it (issue 15).
		web, oe := g.webPhoneURI(user)
		if oe != nil {
			return sipgosip.Uri{}, oe
		}
		uri = web
	}
	if user, ok := cutRegistered(uri); ok {
		contact, found := g.Registered(user)
		if !found {
			return sipgosip.Uri{}, &OutcomeError{Outcome: OutcomeAgentNotRegistered, Reason: ReasonNotRegistered}
		}
		uri = contact
	}
	var to sipgosip.Uri
	if err := sipgosip.ParseUri(uri, &to); err != nil || to.Scheme != "sip" || to.Host == "" {
		return sipgosip.Uri{}, fmt.Errorf("party URI %q: want sip:user@host[:port]", p.AgentURI)
	}
	if oe := g.refusedPhone(to); oe != nil {
		return sipgosip.Uri{}, oe
	}
	return to, nil
}

func (c *Call) partyRingTimeout(p Party) time.Duration {
	if p.Number != "" {
		return c.g.cfg.ContactRingTimeout
	}
	return c.g.cfg.AgentRingTimeout
}

// partyOutcome is why a party's leg was not answered; ctx is the caller's,
// octx the operation's (also ended by the call's end and by DropParty).
func partyOutcome(err error, ctx, octx context.Context) *OutcomeError {
	var le *legError
	if !errors.As(err, &le) {
		return &OutcomeError{Outcome: OutcomeFailed, Reason: "party leg failed", Err: err}
	}
	switch {
	case le.cause != nil || octx.Err() != nil || ctx.Err() != nil:
		return &OutcomeError{Outcome: OutcomeCancelled, SIPCode: le.code, Reason: "cancelled"}
	case le.timedOut && !le.heard:
		return &OutcomeError{Outcome: OutcomeFailed, Reason: "the party's phone did not respond"}
	case le.timedOut:
		return &OutcomeError{Outcome: OutcomeNoAnswer, SIPCode: le.code, Reason: reasonRingTimeout}
	case le.code != 0:
		return &OutcomeError{Outcome: contactOutcome(le.code), SIPCode: le.code, Reason: le.reason}
	}
	return &OutcomeError{Outcome: OutcomeFailed, Reason: "party unreachable", Err: le.err}
}
