package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/ringback/ringback/services/media-gateway/telephony"
)

// Session timers (RFC 4028). Every INVITE the gateway sends offers a
// session interval (Session-Expires, refresher=uac: the gateway refreshes)
// and says the smallest it accepts (Min-SE). When the answer keeps a
// session interval with the gateway as refresher, the gateway refreshes the
// session every half interval: an UPDATE without a body when the peer
// allows UPDATE, else a re-INVITE with the current SDP. A refresh that
// fails (481, 408, no answer) means the peer is gone: the call is hung up.
// The point is the other direction too: when this gateway dies, its
// refreshes stop, and a trunk that honours the timer ends the call itself
// at the session interval's end, whoever takes the call over.
//
// When the peer insists on refreshing itself (refresher=uas), the gateway
// answers its refreshes like any re-INVITE (diago does) but does not end the
// call when they stop: it relies on the peer's BYE and its own BYEs.

// DefaultSessionExpires is RFC 4028's recommended session interval.
const DefaultSessionExpires = 30 * time.Minute

// MinSessionExpires is the smallest interval RFC 4028 allows (Min-SE).
const MinSessionExpires = 90 * time.Second

// ReasonSessionExpired ends a call whose session refresh failed.
const ReasonSessionExpired = telephony.ReasonSessionExpired

// sessionHeaders are the headers of an INVITE offering session timers.
func (g *Gateway) sessionHeaders() []sipgosip.Header {
	se := g.cfg.SessionExpires
	if se <= 0 {
		return nil
	}
	minSE := min(se, g.cfg.minSE())
	return []sipgosip.Header{
		sipgosip.NewHeader("Supported", "timer"),
		sipgosip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=uac", int(se/time.Second))),
		sipgosip.NewHeader("Min-SE", strconv.Itoa(int(minSE/time.Second))),
	}
}

func (c Config) minSE() time.Duration {
	if c.MinSE > 0 {
		return c.MinSE
	}
	return MinSessionExpires
}

// sessionTimer is what the answer to an INVITE said about the session
// interval.
type sessionTimer struct {
	interval  time.Duration // 0: no session timer
	refresher bool          // the gateway refreshes
	update    bool          // the peer allows UPDATE
}

// parseSessionTimer reads a 2xx's Session-Expires (RFC 4028 7.2): no header
// means no session timer; refresher=uac means us, since we sent the INVITE.
func parseSessionTimer(res *sipgosip.Response) sessionTimer {
	if res == nil {
		return sessionTimer{}
	}
	h := res.GetHeader("Session-Expires")
	if h == nil {
		h = res.GetHeader("x") // its compact form (RFC 4028 4)
	}
	if h == nil {
		return sessionTimer{}
	}
	value, params, _ := strings.Cut(h.Value(), ";")
	sec, err := strconv.Atoi(strings.TrimSpace(value))
	if err != nil || sec <= 0 {
		return sessionTimer{}
	}
	st := sessionTimer{interval: time.Duration(sec) * time.Second}
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "refresher") {
			st.refresher = strings.EqualFold(strings.TrimSpace(v), "uac")
		}
	}
	for _, a := range res.GetHeaders("Allow") {
		for _, m := range strings.Split(a.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(m), "UPDATE") {
				st.update = true
			}
		}
	}
	return st
}

// startSessionTimers starts the refresher of each leg whose answer made
// the gateway the refresher. They stop with the call (life).
func (c *Call) startSessionTimers() {
	for _, l := range []*leg{c.agent, c.contact} {
		st := parseSessionTimer(l.dialog.InviteResponse)
		if st.interval <= 0 || !st.refresher {
			continue
		}
		c.g.wg.Add(1)
		go func() {
			defer c.g.wg.Done()
			c.refreshLoop(l, st)
		}()
	}
}

// refreshLoop refreshes one leg's session every half interval (RFC 4028
// 10: the refresher sends its refresh at half the interval).
func (c *Call) refreshLoop(l *leg, st sessionTimer) {
	tick := time.NewTicker(st.interval / 2)
	defer tick.Stop()
	for {
		select {
		case <-c.life.Done():
			return
		case <-l.dialog.Context().Done():
			return
		case <-tick.C:
		}
		if c.g.killed.Load() {
			return
		}
		err := c.refresh(l, st)
		if err == nil {
			continue
		}
		if c.life.Err() != nil {
			return
		}
		if !peerGone(err) {
			// Refused for another reason (405, 491, 500...): the session is
			// still up; try a re-INVITE next time.
			c.log.Warn("sip: session refresh refused", "leg", l.role, "error", maskDigits(err.Error()))
			st.update = false
			continue
		}
		c.log.Warn("sip: session refresh failed, hanging up", "leg", l.role, "error", maskDigits(err.Error()))
		if !c.claimed.CompareAndSwap(false, true) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
		err = c.teardown(ctx, EndSessionExpired)
		cancel()
		if err != nil {
			c.log.Debug("sip: hang up after failed refresh", "error", maskDigits(err.Error()))
		}
		return
	}
}

// refresh sends one session refresh on l, serialised with hold and retrieve
// (both are re-INVITEs on the same dialogs).
func (c *Call) refresh(l *leg, st sessionTimer) error {
	c.ctl.Lock()
	defer c.ctl.Unlock()
	ctx, cancel := context.WithTimeout(c.life, 32*time.Second) // Timer F / B
	defer cancel()
	if !st.update {
		return reinvite(ctx, l.dialog.ReInvite)
	}
	var target sipgosip.Uri
	if rc := l.dialog.RemoteContact(); rc != nil {
		target = rc.Address
	} else {
		target = l.dialog.InviteRequest.Recipient
	}
	req := sipgosip.NewRequest(sipgosip.UPDATE, target)
	req.AppendHeader(sipgosip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=uac", int(st.interval/time.Second))))
	req.AppendHeader(sipgosip.NewHeader("Supported", "timer"))
	res, err := l.dialog.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("update: %w", sipgo.ErrDialogResponse{Res: res})
	}
	return nil
}

// peerGone says whether a failed refresh means the session is over (RFC
// 4028 10: a 408 or 481, or no answer at all); another refusal does not.
func peerGone(err error) bool {
	var resVal sipgo.ErrDialogResponse
	var resPtr *sipgo.ErrDialogResponse
	var code int
	switch {
	case errors.As(err, &resVal) && resVal.Res != nil:
		code = resVal.Res.StatusCode
	case errors.As(err, &resPtr) && resPtr.Res != nil:
		code = resPtr.Res.StatusCode
	default:
		return true // no answer: timed out, or the transport failed
	}
	return code == sipgosip.StatusRequestTimeout || code == sipgosip.StatusCallTransactionDoesNotExists
}
