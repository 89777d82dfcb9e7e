package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/ringback/ringback/services/media-gateway/rtplink"
	"github.com/ringback/ringback/services/media-gateway/telephony"
)

var (
	errAgentHungUp = errors.New("agent hung up")
	// errRingStopped ends the wait for an answer after a provisional
	// response: sipgo then sends CANCEL.
	errRingStopped = errors.New("ring stopped")
)

// Dial rings the agent's phone (agentURI, e.g. sip:agent1@10.0.0.7:5060) and,
// once the agent answers, dials number (E.164, e.g. +14155550123) through the
// trunk. It returns once the contact answered (Connected) or the attempt
// failed.
//
// report receives the attempt's progress in order, never concurrently, from
// Dial's goroutine or the gateway's: AgentRinging, AgentAnswered,
// ContactRinging, then Connected or Failed; after Connected, one Ended. It
// must not block for long: it holds up the call's SIP processing.
//
// id is the call attempt id; it travels in the X-Ringback-Call header of both
// legs. When the call does not connect, Dial returns an *OutcomeError (match
// it with errors.As) and hangs up the agent if the agent had answered. When
// ctx is cancelled while a leg rings, Dial sends CANCEL and returns an error
// matching ctx's error (errors.Is), after a Failed report with
// OutcomeCancelled. Bad id or agentURI arguments are returned as errors
// without any report.
//
// agentURI "registered:<user>" rings the Contact the agent's phone
// registered with the gateway's registrar (see Registered). When that user
// is not registered, and for "" (an agent without a phone), the attempt
// fails at once, reported, with OutcomeAgentNotRegistered and reason
// ReasonNotRegistered.
func (g *Gateway) Dial(ctx context.Context, id, agentURI, number string, report func(Progress)) (*Call, error) {
	return g.dial(ctx, id, agentURI, number, report, agentFirst)
}

// dialPlan is the order in which the legs are rung.
type dialPlan int

const (
	agentFirst dialPlan = iota
	contactFirst
)

func (g *Gateway) dial(ctx context.Context, id, agentURI, number string, report func(Progress), plan dialPlan) (*Call, error) {
	if report == nil {
		report = func(Progress) {}
	}
	if !isToken(id) || id == "" {
		return nil, fmt.Errorf("dial: call id %q: want a non-empty token", id)
	}
	user, registered := cutRegistered(agentURI)
	registered = registered || agentURI == ""
	if registered && user != "" && !isToken(user) {
		return nil, fmt.Errorf("dial %s: agent %q: want %s<user>", id, agentURI, RegisteredPrefix)
	}
	if oe := refusedNumber(number); oe != nil {
		report(oe.Failure())
		g.log.Info("sip: dial refused", "call", id, "error", oe.Error())
		return nil, fmt.Errorf("dial %s: %w", id, oe)
	}
	if registered {
		contact, ok := g.Registered(user)
		if !ok {
			oe := &OutcomeError{Outcome: OutcomeAgentNotRegistered, Reason: ReasonNotRegistered}
			report(oe.Failure())
			g.log.Info("sip: dial failed", "call", id, "agent", user, "error", oe.Error())
			return nil, fmt.Errorf("dial %s: %w", id, oe)
		}
		agentURI = contact
	}
	if user, ok := strings.CutPrefix(agentURI, WebPhonePrefix); ok {
		uri, oe := g.webPhoneURI(user)
		if oe != nil {
			report(oe.Failure())
			g.log.Info("sip: dial failed", "call", id, "agent", user, "error", oe.Error())
			return nil, fmt.Errorf("dial %s: %w", id, oe)
		}
		agentURI = uri
	}
	var agent sipgosip.Uri
	if err := sipgosip.ParseUri(agentURI, &agent); err != nil || agent.Scheme != "sip" || agent.Host == "" {
		return nil, fmt.Errorf("dial %s: agent URI %q: want sip:user@host[:port]", id, agentURI)
	}
	if oe := g.refusedPhone(agent); oe != nil {
		report(oe.Failure())
		g.log.Info("sip: dial refused", "call", id, "error", oe.Error())
		return nil, fmt.Errorf("dial %s: %w", id, oe)
	}

	select {
	case <-g.ready:
	case <-g.stopping:
		return nil, fmt.Errorf("dial %s: %w", id, ErrStopped)
	case <-ctx.Done():
		return nil, fmt.Errorf("dial %s: %w", id, ctx.Err())
	}
	// Run cancels dctx with ErrStopped when the gateway stops.
	dctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	end, err := g.begin(cancel)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", id, err)
	}
	defer end()

	d := &dial{g: g, id: id, report: report, log: g.log.With("call", id, "number", maskNumber(number))}
	run := d.run
	if plan == contactFirst {
		run = d.runContactFirst
	}
	call, err := run(dctx, agent, number)
	if err != nil {
		d.failed(err)
		return nil, fmt.Errorf("dial %s: %w", id, err)
	}
	return call, nil
}

// dial is one call attempt while it is being set up.
type dial struct {
	g      *Gateway
	id     string
	report func(Progress)
	log    *slog.Logger
	// up are the legs answered already (contact first: the contact's),
	// reported with the next leg's ringing.
	up []*leg
}

// Roles of the legs, for logs and errors.
const (
	roleAgent   = telephony.RoleAgent
	roleContact = telephony.RoleContact
	roleParty   = telephony.RoleParty
)

// trunkURI is where a number is dialled.
func (g *Gateway) trunkURI(number string) sipgosip.Uri {
	return sipgosip.Uri{Scheme: "sip", User: number, Host: g.trunkHost, Port: g.trunkPort}
}

// cutRegistered splits "registered:<user>".
func cutRegistered(uri string) (user string, ok bool) {
	return strings.CutPrefix(uri, RegisteredPrefix)
}

// leg is an answered call leg.
type leg struct {
	role   string // roleAgent, roleContact or roleParty
	dialog *diago.DialogClientSession
	media  *diago.DialogMedia
	offers *offerBook // where its re-INVITEs' ptime is noted
	// link carries the leg's RTP in process (a browser's phone, with
	// Config.Links); nil: the media session's own RTP.
	link *rtplink.End
}

// legError is why a leg was not answered.
type legError struct {
	role   string
	code   int    // final response, 0 when none
	reason string // its reason phrase
	// timedOut: our ring timeout ended the wait; cause is set instead when
	// the dial's context or the agent hanging up did. heard: some
	// provisional response came before; a UA sends 100 Trying at once
	// (RFC 3261 8.2.6.1), so a silent one is down, not unanswered.
	timedOut bool
	heard    bool
	cause    error
	err      error // what sipgo returned
}

func (e *legError) Error() string {
	switch {
	case e.code != 0:
		return fmt.Sprintf("%s leg: %d %s", e.role, e.code, e.reason)
	case e.timedOut:
		return fmt.Sprintf("%s leg: %s", e.role, reasonRingTimeout)
	default:
		return fmt.Sprintf("%s leg: %v", e.role, e.err)
	}
}

func (e *legError) Unwrap() error { return e.err }

func (d *dial) run(ctx context.Context, agentURI sipgosip.Uri, number string) (*Call, error) {
	agent, err := d.invite(ctx, roleAgent, agentURI, d.g.cfg.AgentRingTimeout, AgentRinging, d.answerAs(AgentAnswered))
	if err != nil {
		return nil, d.agentOutcome(ctx, err)
	}
	d.log.Info("sip: agent answered") // and reported, before the ACK

	// The agent hanging up while the contact rings cancels the contact leg.
	cctx, stopContact := context.WithCancelCause(ctx)
	stopWatch := context.AfterFunc(agent.dialog.Context(), func() { stopContact(errAgentHungUp) })
	// The contact's answer connects the call, on record before its ACK,
	// unless the agent is gone by then (below: both are hung up).
	connect := func(contact *leg) bool {
		if ctx.Err() != nil || agent.dialog.LoadState() == sipgosip.DialogStateEnded {
			return false
		}
		d.report(answered(Connected, contact, agent))
		return true
	}
	contact, err := d.inviteContact(cctx, number, connect)
	stopWatch()
	stopContact(nil)
	if err != nil {
		d.hangupAfterFailure(ctx, agent)
		return nil, d.contactOutcome(ctx, err)
	}
	if ctx.Err() != nil || agent.dialog.LoadState() == sipgosip.DialogStateEnded {
		// Cancelled, stopped or hung up just as the contact answered.
		d.hangupAfterFailure(ctx, agent, contact)
		if ctx.Err() == nil {
			return nil, &OutcomeError{Outcome: OutcomeAgentUnavailable, Reason: reasonAgentHungUpEarly}
		}
		return nil, d.cancelled(ctx)
	}

	call := newCall(d, agent, contact)
	d.log.Info("sip: connected") // and reported, before the contact's ACK
	call.start()
	return call, nil
}

// answered is the report for a leg's 2xx, with the dialogs of l and of
// the other legs given.
func answered(kind ProgressKind, l *leg, others ...*leg) Progress {
	p := Progress{Kind: kind, SIPCode: sipgosip.StatusOK, Reason: "OK", Legs: legDialogs(append([]*leg{l}, others...)...)}
	if res := l.dialog.InviteResponse; res != nil {
		p.SIPCode, p.Reason = res.StatusCode, res.Reason
	}
	return p
}

// invite places one leg and waits for its answer, for at most ringTimeout.
// The answer is on record before the ACK that confirms it: a gateway killed
// between the two would otherwise leave the phone in a call that no record
// names, which the instance taking over could not hang up. answer, when it
// is not nil, reports it (and says whether it did); otherwise, or when it
// did not, the leg's dialog is reported with its ringing kind, unless its
// ringing already put that dialog on record.
func (d *dial) invite(ctx context.Context, role string, to sipgosip.Uri, ringTimeout time.Duration, ringing ProgressKind,
	answer func(*leg) bool) (*leg, error) {
	if err := ctx.Err(); err != nil {
		// The dial was stopped before this leg (cancelled, or its call
		// taken over by another instance): no INVITE leaves.
		return nil, &legError{role: role, err: err, cause: context.Cause(ctx)}
	}
	// A phone behind NAT on TCP or TLS: its Contact cannot be reached, the
	// connection it registered over can (RFC 5626 5.3). The transport's
	// RewriteContact sends the in-dialog requests the same way, to where
	// the answer came from.
	flowSrc, viaFlow := d.g.flowTo(to)
	// A phone's address holds at most MaxDialogsPerSource legs (limits.go):
	// the NAT's address for a phone behind one, not its private Contact.
	addr := to.Host
	if viaFlow {
		addr, _, _ = net.SplitHostPort(flowSrc)
	}
	release, ok := d.g.dialogs.acquire(addr)
	if d.g.isWebPhones(to) {
		// The browsers' phones are one address for every agent on them.
		release, ok = func() {}, true
	}
	if !ok {
		return nil, &legError{role: role, code: sipgosip.StatusBusyHere, reason: reasonTooManyDialogs}
	}
	dlg, err := d.g.dg.NewDialog(to, d.g.dialogOptions(to))
	if err != nil {
		release()
		return nil, &legError{role: role, err: fmt.Errorf("new dialog: %w", err)}
	}
	if viaFlow {
		dlg.InviteRequest.SetDestination(flowSrc)
	}

	var (
		mu     sync.Mutex // the INVITE's responses come on its own goroutine
		heard  bool       // any provisional response: CANCEL is allowed
		left   bool       // the caller went on (leaveInvite): no more reports
		rang   bool       // reported ringing,
		rangTo string     // with the dialog's To (and tag) then
	)
	opts := diago.InviteClientOptions{
		Headers: append([]sipgosip.Header{sipgosip.NewHeader(callHeader, d.id)}, d.g.sessionHeaders()...),
		OnResponse: func(res *sipgosip.Response) error {
			mu.Lock()
			defer mu.Unlock()
			if left {
				return nil
			}
			if res.IsProvisional() {
				heard = true
			}
			if !rang && (res.StatusCode == sipgosip.StatusRinging || res.StatusCode == sipgosip.StatusSessionInProgress) {
				rang, rangTo = true, toOf(res)
				d.report(Progress{Kind: ringing, SIPCode: res.StatusCode, Reason: res.Reason,
					Legs: append(legDialogs(d.up...), earlyDialog(role, to, res))})
			}
			return nil
		},
	}
	opts.WithCaller("", d.g.cfg.CallerID, d.g.host)
	if to.Host == d.g.trunkHost && to.Port == d.g.trunkPort {
		// diago answers one 401/407 with these (digest); without them the
		// challenge is the final response. They are the trunk's: never
		// sent to anyone else, an agent's phone included.
		opts.Username, opts.Password = d.g.cfg.TrunkUser, d.g.cfg.TrunkPassword
	}

	rctx, timedOut, stopRing := ringContext(ctx, ringTimeout, d.g.killed.Load)
	invited := make(chan invitation, 1)
	go func() {
		med, err := dlg.Invite(rctx, opts)
		invited <- invitation{med, err}
	}()
	var inv invitation
	select {
	case inv = <-invited:
	case <-rctx.Done():
		mu.Lock()
		left = !heard && !d.g.killed.Load()
		mu.Unlock()
		if left {
			stopRing()
			d.g.leaveInvite(func() {
				<-invited
				d.abandon(dlg)
				release()
			})
			return nil, classify(ctx, role, nil, timedOut.Load(), context.Canceled)
		}
		inv = <-invited
	}
	stopRing()
	med, err := inv.med, inv.err
	if err != nil {
		d.abandon(dlg)
		release()
		le := classify(ctx, role, dlg.InviteResponse, timedOut.Load(), err)
		le.heard = heard
		return nil, le
	}
	if d.g.cfg.TrunkSRTP && d.g.isTrunk(to) && !srtpAnswered(dlg.InviteResponse) {
		// Asked for SRTP and answered in clear: no call is better than a
		// call anyone on the path can hear (abandon ACKs and BYEs it).
		d.abandon(dlg)
		release()
		return nil, &legError{role: role, code: sipgosip.StatusNotAcceptableHere, reason: reasonNoSRTP}
	}
	l := &leg{role: role, dialog: dlg, media: med, offers: &d.g.offers}
	if links := d.g.cfg.Links; links != nil && d.g.isWebPhones(to) {
		if ms := med.MediaSession(); ms != nil {
			l.link = links.Join(rtplink.Key(d.id, to.User, ms.Laddr.Port), rtplink.Caller)
			med.OnClose(l.link.Close)
			if dlg.Context().Err() != nil {
				_ = l.link.Close() // ended before the hook was there to hear it
			}
		}
	}
	if answer == nil || !answer(l) {
		d.recordDialog(l, ringing, rangTo)
	}
	if err := dlg.Ack(ctx); err != nil {
		d.abandon(dlg)
		release()
		return nil, &legError{role: role, err: fmt.Errorf("ack: %w", err)}
	}
	// An answered leg holds its slot until its dialog ends (sipgo cancels
	// the dialog's context then, as legDone relies on).
	context.AfterFunc(dlg.Context(), release)
	return l, nil
}

// answerAs is an answer for invite: the leg's 2xx reported as kind, with
// the legs up already (d.up).
func (d *dial) answerAs(kind ProgressKind) func(*leg) bool {
	return func(l *leg) bool {
		d.report(answered(kind, l, d.up...))
		return true
	}
}

// recordDialog reports an answered leg's dialog with its ringing kind when
// the ringing did not already record it (a 200 with no 180 before it, or
// from another fork).
func (d *dial) recordDialog(l *leg, ringing ProgressKind, rangTo string) {
	if res := l.dialog.InviteResponse; res != nil && toOf(res) != rangTo {
		d.report(Progress{Kind: ringing, SIPCode: res.StatusCode, Reason: res.Reason, Legs: append(legDialogs(d.up...), legDialogs(l)...)})
	}
}

// toOf is a response's To header value, with the peer's tag: which dialog
// (of a forked INVITE's) it is in.
func toOf(res *sipgosip.Response) string {
	if h := res.To(); h != nil {
		return h.Value()
	}
	return ""
}

// ringContext is the wait for an answer: it ends at the ring timeout or with
// ctx. sipgo then CANCELs the INVITE; but a CANCEL is only allowed after a
// provisional response (RFC 3261 9.1), and sipgo waits for one up to Timer B
// (32 s) to send it. invite does not make its caller wait for that: see
// leaveInvite.
//
// silent (the gateway was killed, see Kill) gives up without a CANCEL: a
// dead process sends nothing.
func ringContext(ctx context.Context, timeout time.Duration, silent func() bool) (rctx context.Context, timedOut *atomic.Bool, stop func()) {
	rctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	cause := func() error {
		if silent() {
			return sipgo.WaitAnswerForceCancelErr // sipgo compares this sentinel with ==
		}
		return errRingStopped
	}
	timedOut = new(atomic.Bool)
	timer := time.AfterFunc(timeout, func() {
		timedOut.Store(true)
		cancel(cause())
	})
	stopAfter := context.AfterFunc(ctx, func() { cancel(cause()) })
	return rctx, timedOut, func() {
		timer.Stop()
		stopAfter()
		cancel(nil)
	}
}

// invitation is what diago's Invite returned.
type invitation struct {
	med *diago.DialogMedia
	err error
}

// classify turns what diago's Invite returned into a legError.
// final is the INVITE's last response, nil when none was waited for.
func classify(ctx context.Context, role string, final *sipgosip.Response, timedOut bool, err error) *legError {
	le := &legError{role: role, err: err}
	// sipgo returns ErrDialogResponse as a pointer from WaitAnswer and as a
	// value elsewhere: match both.
	var resPtr *sipgo.ErrDialogResponse
	var resVal sipgo.ErrDialogResponse
	switch {
	case errors.As(err, &resPtr) && resPtr.Res != nil:
		le.code, le.reason = resPtr.Res.StatusCode, resPtr.Res.Reason
		return le
	case errors.As(err, &resVal) && resVal.Res != nil:
		le.code, le.reason = resVal.Res.StatusCode, resVal.Res.Reason
		return le
	}
	// The wait was stopped; after our CANCEL the final response is normally
	// 487, but the phone may have answered anything in between.
	if final != nil && final.StatusCode >= 300 {
		le.code, le.reason = final.StatusCode, final.Reason
	}
	switch {
	case ctx.Err() != nil:
		le.cause = context.Cause(ctx)
	case timedOut:
		le.timedOut = true
	}
	return le
}

// abandon releases a leg that was not answered. When a 2xx crossed our
// CANCEL, the phone considers the call up: ACK and BYE it (RFC 3261 15).
func (d *dial) abandon(dlg *diago.DialogClientSession) {
	if d.g.killed.Load() {
		_ = dlg.Close()
		return
	}
	if res := dlg.InviteResponse; res != nil && res.IsSuccess() && dlg.LoadState() != sipgosip.DialogStateEnded {
		ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
		defer cancel()
		// sipgo's Ack, not diago's: there is no media to finalise.
		err := errors.Join(dlg.DialogClientSession.Ack(ctx), dlg.DialogClientSession.Bye(ctx))
		if err != nil {
			d.log.Warn("sip: hang up a late answer", "error", maskDigits(err.Error()))
		}
	}
	if err := dlg.Close(); err != nil {
		d.log.Debug("sip: close dialog", "error", maskDigits(err.Error()))
	}
}

// hangupAfterFailure hangs up answered legs; the dial's context may be done,
// so the BYEs get their own deadline.
func (d *dial) hangupAfterFailure(ctx context.Context, legs ...*leg) {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), byeTimeout)
	defer cancel()
	for _, l := range legs {
		if err := d.g.hangupLeg(bctx, l); err != nil {
			d.log.Warn("sip: hang up after failed dial", "error", maskDigits(err.Error()))
		}
	}
}

// agentOutcome: whatever stopped the agent leg, the agent is not available,
// unless the dial itself was cancelled or the gateway stopped.
func (d *dial) agentOutcome(ctx context.Context, err error) error {
	var le *legError
	if !errors.As(err, &le) {
		return &OutcomeError{Outcome: OutcomeFailed, Err: err}
	}
	if le.cause != nil {
		return d.cancelled(ctx)
	}
	oe := &OutcomeError{Outcome: OutcomeAgentUnavailable, SIPCode: le.code, Reason: le.reason}
	switch {
	case le.code == 0 && le.timedOut && le.heard:
		oe.Reason = reasonRingTimeout
	case le.code == 0 && le.timedOut:
		oe.Reason = "agent phone did not respond"
	case le.code == 0:
		oe.Reason, oe.Err = "agent phone unreachable", le.err
	}
	return oe
}

func (d *dial) contactOutcome(ctx context.Context, err error) error {
	var le *legError
	if !errors.As(err, &le) {
		return &OutcomeError{Outcome: OutcomeFailed, Err: err}
	}
	switch {
	case errors.Is(le.cause, errAgentHungUp) && ctx.Err() == nil:
		return &OutcomeError{Outcome: OutcomeAgentUnavailable, SIPCode: le.code, Reason: reasonAgentHungUpEarly}
	case le.cause != nil:
		return d.cancelled(ctx)
	case le.timedOut && !le.heard:
		return &OutcomeError{Outcome: OutcomeFailed, Reason: "trunk did not respond"}
	case le.timedOut && (le.code == 0 || le.code == sipgosip.StatusRequestTerminated):
		reason := le.reason
		if reason == "" {
			reason = reasonRingTimeout
		}
		return &OutcomeError{Outcome: OutcomeNoAnswer, SIPCode: le.code, Reason: reason}
	case le.code != 0:
		return &OutcomeError{Outcome: contactOutcome(le.code), SIPCode: le.code, Reason: le.reason}
	default:
		return &OutcomeError{Outcome: OutcomeFailed, Reason: "trunk unreachable", Err: le.err}
	}
}

// cancelled is the error for a dial stopped by its caller or by Run.
func (d *dial) cancelled(ctx context.Context) error {
	if errors.Is(context.Cause(ctx), ErrStopped) {
		return &OutcomeError{Outcome: OutcomeFailed, Reason: ReasonGatewayStopped, Err: ErrStopped}
	}
	return ctx.Err()
}

// failed reports a failed dial once, and logs it.
func (d *dial) failed(err error) {
	var oe *OutcomeError
	if errors.As(err, &oe) {
		d.report(oe.Failure())
	} else {
		d.report(Progress{Kind: Failed, Outcome: OutcomeCancelled, Reason: "dial cancelled"})
	}
	d.log.Info("sip: dial failed", "error", maskDigits(err.Error()))
}
