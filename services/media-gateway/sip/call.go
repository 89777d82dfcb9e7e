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
// bridged through the gateway. Either side hanging up (BYE) ends it and
// hangs up the other side. Its methods are safe for concurrent use.
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

	mu      sync.Mutex // guards the fields below
	stopped bool       // teardown began: nothing new starts
	tone    *toneTask
	rec     *recorder
	lastRec *recordResult // a recording the teardown stopped, not yet collected

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
	if !c.claimed.CompareAndSwap(false, true) {
		select {
		case <-c.ended:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := c.teardown(ctx, ReasonHangupRequested); err != nil {
		return fmt.Errorf("hang up %s: %w", c.id, err)
	}
	return nil
}

// start watches the legs until one hangs up, the gateway stops or the call
// is hung up; Run waits for the watcher.
func (c *Call) start() {
	c.g.wg.Add(1) // Dial still holds its own count: Run is not past Wait
	go c.watch()
}

func (c *Call) watch() {
	defer c.g.wg.Done()
	var reason string
	select {
	case <-c.agent.dialog.Context().Done():
		reason = ReasonAgentHungUp
	case <-c.contact.dialog.Context().Done():
		reason = ReasonContactHungUp
	case <-c.g.stopping:
		reason = ReasonGatewayStopped
	case <-c.ended:
		return
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

// teardown runs once, for whoever claimed the call: BYE the legs still up
// (which closes their media and so stops the bridge), stop the hold tone
// and the recording, report Ended.
func (c *Call) teardown(ctx context.Context, reason string) error {
	c.endLife()
	err := errors.Join(c.g.hangupLeg(ctx, c.agent), c.g.hangupLeg(ctx, c.contact))
	c.mu.Lock()
	c.stopped = true
	rec := c.rec
	c.rec = nil
	c.mu.Unlock()
	c.stopTone()
	c.media.wait()
	if rec != nil {
		c.media.rec.Store(nil)
		dur, rerr := rec.stop()
		c.mu.Lock()
		c.lastRec = &recordResult{dur: dur, err: rerr}
		c.mu.Unlock()
		c.log.Info("sip: recording stopped by hangup", "duration", dur, "error", rerr)
	}
	c.log.Info("sip: call ended", "reason", reason)
	c.report(Progress{Kind: Ended, Reason: reason})
	close(c.ended)
	return err
}

// hangupLeg sends BYE unless the leg has ended already, and releases its
// media.
func (g *Gateway) hangupLeg(ctx context.Context, l *leg) error {
	var err error
	if l.dialog.LoadState() != sipgosip.DialogStateEnded {
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
