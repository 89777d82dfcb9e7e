package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	sipgosip "github.com/emiago/sipgo/sip"
)

// Call is a connected call: the agent leg and the contact leg, their RTP
// bridged through the gateway, and at times a third party (party.go).
// Either side hanging up (BYE) ends it and hangs up the others; once
// transferred, the contact or the party. Its methods are safe for
// concurrent use.
type Call struct {
	id      string
	g       *Gateway
	log     *slog.Logger
	report  func(Progress)
	agent   *leg
	contact *leg
	media   *bridge

	// life is cancelled when the teardown begins: it stops the re-INVITEs,
	// DTMF and hold tone in progress.
	life    context.Context
	endLife context.CancelFunc

	ctl       sync.Mutex // serialises Hold and Retrieve
	agentHeld bool       // guarded by ctl: the agent's leg accepted our hold
	onHold    atomic.Bool
	dtmfMu    sync.Mutex // serialises SendDTMF

	reportMu sync.Mutex // report is called by one goroutine at a time

	mu      sync.Mutex // guards the fields below
	stopped bool       // teardown began: nothing new starts
	tone    *toneTask
	rec     *recorder
	lastRec *recordResult // a recording the teardown stopped, not yet collected
	// The legs change with a third party (party.go): the agent's is nil
	// once the call is transferred. changed wakes watch to look again.
	party        *leg
	partyState   partyState
	partyPurpose Purpose
	partyCancel  context.CancelFunc // stops the party ringing
	partyRing    chan struct{}      // closed once the ring is over
	changed      chan struct{}

	// agentMayLeave: the agent's phone hanging up in a conference leaves
	// the contact and the party talking (leave.go).
	agentMayLeave atomic.Bool

	claimed atomic.Bool   // someone is tearing the call down
	ended   chan struct{} // closed when it is torn down
}

func newCall(d *dial, agent, contact *leg) *Call {
	c := &Call{
		id:      d.id,
		g:       d.g,
		log:     d.log,
		report:  d.report,
		agent:   agent,
		contact: contact,
		ended:   make(chan struct{}),
		changed: make(chan struct{}),
	}
	c.life, c.endLife = context.WithCancel(context.Background())
	c.media = newBridge(c.log, agent, contact)
	c.media.start()
	return c
}

// ID is the call attempt id given to Dial.
func (c *Call) ID() string { return c.id }

// Ended is closed once the call is over and both legs are hung up, after the
// Ended report.
func (c *Call) Ended() <-chan struct{} { return c.ended }

// Hangup ends the call: BYE on both legs, then the Ended report with reason
// "hangup requested". It returns when both legs are hung up or ctx is done.
// It is idempotent: once the call has ended, or while another Hangup or a
// BYE from a phone is ending it, it waits for the end and returns nil.
func (c *Call) Hangup(ctx context.Context) error {
	return c.HangupBecause(ctx, EndHangupRequested)
}

// HangupBecause is Hangup with the reason the Ended report gives, e.g. the
// gateway's drain running out.
func (c *Call) HangupBecause(ctx context.Context, reason EndReason) error {
	// Bounded whatever the caller gives: a BYE to a peer that is gone
	// (a stopped trunk, a dead phone) would otherwise wait for the SIP
	// transaction's own timeout, and a gateway stopping waits for this call.
	ctx, cancel := context.WithTimeout(ctx, byeTimeout)
	defer cancel()
	if !c.claimed.CompareAndSwap(false, true) {
		select {
		case <-c.ended:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := c.teardown(ctx, reason); err != nil {
		return fmt.Errorf("hang up %s: %w", c.id, err)
	}
	return nil
}

// start watches the legs until one hangs up, the gateway stops or the call
// is hung up; Run waits for the watcher.
func (c *Call) start() {
	c.g.wg.Add(1) // Dial still holds its own count: Run is not past Wait
	go c.watch()
	c.startSessionTimers()
}

func (c *Call) watch() {
	defer c.g.wg.Done()
	var (
		reason  EndReason
		handled *leg // a party whose hang-up is being dealt with
		left    *leg // an agent leaving a conference (leave.go)
	)
	for reason == EndUnknown {
		c.mu.Lock()
		agent, contact, party, st, changed := c.agent, c.contact, c.party, c.partyState, c.changed
		c.mu.Unlock()
		partyDone := legDone(party)
		if party == handled {
			partyDone = nil
		}
		agentDone := legDone(agent)
		if agent == left {
			agentDone = nil
		}
		select {
		case <-agentDone:
			// A transfer hangs up the agent's leg on purpose: that is not
			// the agent ending the call.
			c.mu.Lock()
			leaving := c.agent == agent && c.partyState == partyConference && c.agentMayLeave.Load()
			if c.agent == agent && !leaving {
				reason = EndAgentHungUp
			}
			c.mu.Unlock()
			if leaving {
				left = agent
				c.g.wg.Add(1)
				go func() {
					defer c.g.wg.Done()
					c.agentLeft(agent)
				}()
			}
		case <-contact.dialog.Context().Done():
			reason = EndContactHungUp
		case <-partyDone:
			if st == partyTransferred {
				reason = EndPartyHungUp
				break
			}
			// Consulted or conferenced: the call goes on without them.
			handled = party
			c.g.wg.Add(1)
			go func() {
				defer c.g.wg.Done()
				c.partyHungUp(party)
			}()
		case <-changed:
		case <-c.g.stopping:
			reason = EndGatewayStopped
		case <-c.ended:
			return
		}
	}
	if !c.claimed.CompareAndSwap(false, true) {
		// Hangup is ending the call (its BYE ended a dialog): wait for it so
		// that Run does not close the listener under its BYEs.
		<-c.ended
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	if err := c.teardown(ctx, reason); err != nil {
		c.log.Warn("sip: hang up", "reason", reason, "error", maskDigits(err.Error()))
	}
}

// legDone is closed when the leg's dialog ends; nil (never) for no leg.
func legDone(l *leg) <-chan struct{} {
	if l == nil {
		return nil
	}
	return l.dialog.Context().Done()
}

// signal wakes watch: the legs changed.
func (c *Call) signal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.changed)
	c.changed = make(chan struct{})
}

// emit reports one step; the call's goroutines take turns.
func (c *Call) emit(p Progress) {
	c.reportMu.Lock()
	defer c.reportMu.Unlock()
	c.report(p)
}

// teardown runs once, for whoever claimed the call: BYE the legs still up
// (which closes their media and so stops the bridge), stop the hold tone
// and the recording, report Ended.
func (c *Call) teardown(ctx context.Context, end EndReason) error {
	reason := end.String()
	c.endLife() // stops a party ringing, which then reports its PartyLeft
	c.mu.Lock()
	c.stopped = true
	ringing := c.partyRing
	c.mu.Unlock()
	if ringing != nil {
		select {
		case <-ringing:
		case <-ctx.Done():
		}
	}
	c.mu.Lock()
	agent, party, purpose := c.agent, c.party, c.partyPurpose
	c.party = nil
	rec := c.rec
	c.rec = nil
	c.mu.Unlock()
	var err error
	for _, l := range []*leg{agent, c.contact, party} {
		if l != nil {
			err = errors.Join(err, c.g.hangupLeg(ctx, l))
		}
	}
	c.stopTone()
	c.stopMixer()
	c.media.wait()
	if rec != nil {
		c.media.rec.Store(nil)
		dur, rerr := rec.stop()
		c.mu.Lock()
		c.lastRec = &recordResult{dur: dur, err: rerr}
		c.mu.Unlock()
		c.log.Info("sip: recording stopped by hangup", "duration", dur, "error", rerr)
	}
	if party != nil {
		c.emit(Progress{Kind: PartyLeft, Purpose: purpose, Reason: reason, End: end})
	}
	c.log.Info("sip: call ended", "reason", reason)
	c.emit(Progress{Kind: Ended, Reason: reason, End: end})
	close(c.ended)
	return err
}

// hangupLeg sends BYE unless the leg has ended already, and releases its
// media.
func (g *Gateway) hangupLeg(ctx context.Context, l *leg) error {
	var err error
	if l.dialog.LoadState() != sipgosip.DialogStateEnded && !g.killed.Load() {
		if err = l.dialog.Hangup(ctx); err != nil {
			err = fmt.Errorf("bye %s leg: %w", l.role, err)
		}
	}
	// A BYE that failed leaves the dialog in diago's cache, where only the
	// Ended state removes it: drop it ourselves.
	_ = g.dg.DialogCacheClient().DialogDelete(context.WithoutCancel(ctx), l.dialog.ID)
	if cerr := l.dialog.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close %s leg: %w", l.role, cerr))
	}
	return err
}
