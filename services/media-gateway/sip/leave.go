package sip

import "context"

// SetAgentMayLeave says whether the agent's phone hanging up in a
// conference leaves the call to the contact and the party (issue 15, the
// service's conference.agent_may_leave), as a completed transfer would,
// rather than ending it for everyone. Set it once the call is connected.
func (c *Call) SetAgentMayLeave(may bool) { c.agentMayLeave.Store(may) }

// agentLeft is watch's: the agent's phone hung up during a conference they
// may leave. The contact and the party talk on (Transferred, the call is
// the party's now). If the conference ended meanwhile (the party was
// dropped, or left), the agent hanging up ends the call as it always did;
// if a transfer took the agent off, there is nothing to do.
func (c *Call) agentLeft(l *leg) {
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	c.ctl.Lock()
	c.mu.Lock()
	mine := c.agent == l // else a transfer took the agent off on purpose
	current := mine && !c.stopped && c.partyState == partyConference
	purpose := c.partyPurpose
	if current {
		c.agent, c.partyState = nil, partyTransferred
	}
	c.mu.Unlock()
	if !current {
		c.ctl.Unlock()
		if !mine {
			return
		}
		if err := c.HangupBecause(ctx, EndAgentHungUp); err != nil {
			c.log.Warn("sip: hang up", "reason", EndAgentHungUp, "error", maskDigits(err.Error()))
		}
		return
	}
	defer c.ctl.Unlock()
	c.handOver()
	c.emit(Progress{Kind: Transferred, Purpose: purpose})
	c.log.Info("sip: the agent left the conference")
	// Its dialog ended with the phone's BYE: release its media.
	if err := c.g.hangupLeg(ctx, l); err != nil {
		c.log.Warn("sip: release the agent's leg", "error", maskDigits(err.Error()))
	}
}
