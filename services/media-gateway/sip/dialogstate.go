package sip

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/ringback/ringback/services/media-gateway/telephony"
)

// Dialog is a leg's dialog state (RFC 3261 12): all another gateway
// instance needs to send an in-dialog request on it once the instance that
// set it up is gone. The gateway reports it when a leg is answered
// (Progress.Legs); the service keeps it in the call's events.
type Dialog = telephony.Dialog

// Roles of the legs, as reported in Dialog.Role.
const (
	RoleAgent   = roleAgent
	RoleContact = roleContact
	RoleParty   = roleParty
)

// ByeCSeqGap is added to a recorded CSeq for a BYE sent from the record:
// re-INVITEs and session refreshes after the record used higher numbers,
// and a UAS refuses a lower one (500) but accepts a gap (RFC 3261 12.2.2).
const ByeCSeqGap = 10000

// dialogOf reads an answered leg's dialog state.
func dialogOf(l *leg) Dialog {
	dlg := l.dialog.DialogClientSession
	d := Dialog{Role: l.role, CSeq: dlg.CSEQ(), Transport: "udp"}
	req, res := dlg.InviteRequest, dlg.InviteResponse
	if req != nil {
		if h := req.CallID(); h != nil {
			d.CallID = h.Value()
		}
		if h := req.From(); h != nil {
			d.From = h.Value()
		}
		if h := req.Contact(); h != nil {
			d.LocalContact = h.Address.String()
		}
		d.RemoteTarget = req.Recipient.String()
		if t := req.Transport(); t != "" {
			d.Transport = strings.ToLower(t)
		}
	}
	if res != nil {
		if h := res.To(); h != nil {
			d.To = h.Value()
		}
		if h := res.Contact(); h != nil {
			d.RemoteTarget = h.Address.String()
		}
		rr := res.GetHeaders("Record-Route")
		for i := len(rr) - 1; i >= 0; i-- { // UAC: reversed (RFC 3261 12.1.2)
			d.RouteSet = append(d.RouteSet, rr[i].Value())
		}
		d.RemoteAddr = res.Source()
	}
	return d
}

// earlyDialog is a ringing leg's INVITE as its provisional response tells
// it: enough to cancel the INVITE from another instance (Cancel).
func earlyDialog(role string, to sipgosip.Uri, res *sipgosip.Response) Dialog {
	// The transport the answer came over: the INVITE's (TCP and TLS answer
	// on the request's connection).
	d := Dialog{Role: role, Early: true, RemoteTarget: to.String(), Transport: strings.ToLower(res.Transport()), RemoteAddr: res.Source()}
	if h := res.CallID(); h != nil {
		d.CallID = h.Value()
	}
	if h := res.From(); h != nil {
		d.From = h.Value()
	}
	if h := res.To(); h != nil {
		// With the tag the provisional response added, if any: the
		// phone's answer, if one crossed the owner's death, has it too
		// (a UA keeps its tag), and a BYE needs it. CANCEL strips it.
		d.To = h.Value()
	}
	if h := res.CSeq(); h != nil {
		d.CSeq = h.SeqNo
	}
	if h := res.Via(); h != nil {
		d.Via = h.Value()
	}
	return d
}

// legDialogs are the dialogs of the legs given, for a report.
func legDialogs(legs ...*leg) []Dialog {
	out := make([]Dialog, 0, len(legs))
	for _, l := range legs {
		if l != nil && l.dialog != nil {
			out = append(out, dialogOf(l))
		}
	}
	return out
}

// ErrNoAnswer: a BYE was sent but no answer came back in time.
var ErrNoAnswer = telephony.ErrNoAnswer

// ErrIncompleteDialog: the recorded dialog lacks what an in-dialog request
// needs.
var ErrIncompleteDialog = telephony.ErrIncompleteDialog

// Bye hangs up a leg this process did not set up (its gateway died), from
// its recorded dialog state: a BYE built by hand (RFC 3261 15.1.1) with
// the dialog's Call-ID and tags, a CSeq above any the dead gateway used,
// routed by the route set or to the remote target. It returns once the
// peer answered or ctx is done; a 481 (the peer already forgot the dialog)
// counts as hung up.
func (g *Gateway) Bye(ctx context.Context, d Dialog) error {
	req, dest, err := byeRequest(d)
	if err != nil {
		return err
	}
	req.SetDestination(dest)
	select {
	case <-g.ready:
	case <-g.stopping:
		return fmt.Errorf("bye %s leg: %w", d.Role, ErrStopped)
	case <-ctx.Done():
		return ctx.Err()
	}
	res, err := g.trunk.client.Do(ctx, req, sipgo.ClientRequestAddVia)
	if err != nil && ctx.Err() != nil {
		// Sent, never answered: a peer that answers the dead gateway's
		// address rather than our Via (RFC 3261 18.2.2 says the Via), or
		// a dead peer.
		return fmt.Errorf("bye %s leg: %w", d.Role, ErrNoAnswer)
	}
	if err != nil {
		return fmt.Errorf("bye %s leg: %w", d.Role, err)
	}
	if !res.IsSuccess() && res.StatusCode != sipgosip.StatusCallTransactionDoesNotExists {
		return fmt.Errorf("bye %s leg: %d %s", d.Role, res.StatusCode, res.Reason)
	}
	g.log.Info("sip: lost leg hung up", "role", d.Role, "code", res.StatusCode)
	return nil
}

// byeRequest builds the BYE of a recorded dialog and where it goes.
func byeRequest(d Dialog) (*sipgosip.Request, string, error) {
	if d.CallID == "" || d.From == "" || d.To == "" || d.RemoteTarget == "" {
		return nil, "", fmt.Errorf("bye %s leg: %w", d.Role, ErrIncompleteDialog)
	}
	var target sipgosip.Uri
	if err := sipgosip.ParseUri(d.RemoteTarget, &target); err != nil {
		return nil, "", fmt.Errorf("bye %s leg: remote target: %w", d.Role, err)
	}
	req := sipgosip.NewRequest(sipgosip.BYE, target)
	for _, r := range d.RouteSet {
		req.AppendHeader(sipgosip.NewHeader("Route", r))
	}
	maxFwd := sipgosip.MaxForwardsHeader(70)
	callID := sipgosip.CallIDHeader(d.CallID)
	req.AppendHeader(sipgosip.NewHeader("From", d.From))
	req.AppendHeader(sipgosip.NewHeader("To", d.To))
	req.AppendHeader(&callID)
	req.AppendHeader(&sipgosip.CSeqHeader{SeqNo: d.CSeq + ByeCSeqGap, MethodName: sipgosip.BYE})
	req.AppendHeader(&maxFwd)
	req.SetBody(nil)
	transport := strings.ToUpper(cmpOr(d.Transport, "udp"))
	req.SetTransport(transport)
	if req.From() == nil || req.To() == nil || !req.From().Params.Has("tag") || !req.To().Params.Has("tag") {
		return nil, "", fmt.Errorf("bye %s leg: %w: From and To need their tags", d.Role, ErrIncompleteDialog)
	}
	// The next hop: the first route (loose routing), else the remote target
	// (RFC 3261 12.2.1.1).
	hop := target
	if len(d.RouteSet) > 0 {
		if rh := req.Route(); rh != nil {
			hop = rh.Address
		}
	}
	port := hop.Port
	if port == 0 {
		port = 5060
	}
	return req, net.JoinHostPort(hop.Host, strconv.Itoa(port)), nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Cancel stops a leg this process did not set up from ringing (its gateway
// died), from its recorded INVITE: a CANCEL built by hand (RFC 3261 9.1)
// with the INVITE's Request-URI, Call-ID, From, To, CSeq number and top
// Via, so the phone matches it to the INVITE. Its answers go to that Via,
// the dead gateway's: the CANCEL is sent without waiting for them, twice,
// as UDP may lose one. The phone may have answered just as the gateway
// died, and then waits for an ACK that a CANCEL does not replace: when the
// provisional response gave the phone's tag, an ACK follows, so that the
// BYE the caller sends next (Bye, same dialog) ends an answered call too.
func (g *Gateway) Cancel(ctx context.Context, d Dialog) error {
	req, dest, err := cancelRequest(d)
	if err != nil {
		return err
	}
	req.SetDestination(dest)
	defer func() {
		if ack, err := ackRequest(d); err == nil {
			ack.SetDestination(dest)
			if err := g.trunk.client.WriteRequest(ack, sipgo.ClientRequestAddVia); err != nil {
				g.log.Debug("sip: ack a lost leg", "error", err)
			}
		}
	}()
	select {
	case <-g.ready:
	case <-g.stopping:
		return fmt.Errorf("cancel %s leg: %w", d.Role, ErrStopped)
	case <-ctx.Done():
		return ctx.Err()
	}
	asIs := func(*sipgo.Client, *sipgosip.Request) error { return nil } // our Via is the INVITE's
	for i := range 2 {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(sipgosip.T1):
			}
		}
		if err := g.trunk.client.WriteRequest(req, asIs); err != nil {
			return fmt.Errorf("cancel %s leg: %w", d.Role, err)
		}
	}
	g.log.Info("sip: lost ringing leg cancelled", "role", d.Role)
	return nil
}

// cancelRequest builds the CANCEL of a recorded ringing INVITE.
func cancelRequest(d Dialog) (*sipgosip.Request, string, error) {
	if d.CallID == "" || d.From == "" || d.To == "" || d.RemoteTarget == "" || d.Via == "" {
		return nil, "", fmt.Errorf("cancel %s leg: %w", d.Role, ErrIncompleteDialog)
	}
	var target sipgosip.Uri
	if err := sipgosip.ParseUri(d.RemoteTarget, &target); err != nil {
		return nil, "", fmt.Errorf("cancel %s leg: request URI: %w", d.Role, err)
	}
	req := sipgosip.NewRequest(sipgosip.CANCEL, target)
	maxFwd := sipgosip.MaxForwardsHeader(70)
	callID := sipgosip.CallIDHeader(d.CallID)
	req.AppendHeader(sipgosip.NewHeader("Via", d.Via))
	req.AppendHeader(sipgosip.NewHeader("From", d.From))
	req.AppendHeader(sipgosip.NewHeader("To", d.To))
	if to := req.To(); to != nil && to.Params.Has("tag") {
		// The INVITE's To, as sent: without the tag the phone added.
		req.RemoveHeader("To")
		t := sipgosip.HeaderClone(to).(*sipgosip.ToHeader)
		t.Params = t.Params.Clone()
		t.Params.Remove("tag")
		req.AppendHeader(t)
	}
	req.AppendHeader(&callID)
	req.AppendHeader(&sipgosip.CSeqHeader{SeqNo: d.CSeq, MethodName: sipgosip.CANCEL})
	req.AppendHeader(&maxFwd)
	req.SetBody(nil)
	req.SetTransport(strings.ToUpper(cmpOr(d.Transport, "udp")))
	if req.Via() == nil || req.From() == nil || req.To() == nil {
		return nil, "", fmt.Errorf("cancel %s leg: %w: unreadable headers", d.Role, ErrIncompleteDialog)
	}
	port := target.Port
	if port == 0 {
		port = 5060
	}
	return req, net.JoinHostPort(target.Host, strconv.Itoa(port)), nil
}

// ackRequest is the ACK of a 2xx the phone may have sent to the dead
// gateway (RFC 3261 13.2.2.4): same Call-ID, tags and CSeq number; a new
// Via. It needs the phone's tag.
func ackRequest(d Dialog) (*sipgosip.Request, error) {
	var target sipgosip.Uri
	if err := sipgosip.ParseUri(d.RemoteTarget, &target); err != nil {
		return nil, err
	}
	req := sipgosip.NewRequest(sipgosip.ACK, target)
	maxFwd := sipgosip.MaxForwardsHeader(70)
	callID := sipgosip.CallIDHeader(d.CallID)
	req.AppendHeader(sipgosip.NewHeader("From", d.From))
	req.AppendHeader(sipgosip.NewHeader("To", d.To))
	req.AppendHeader(&callID)
	req.AppendHeader(&sipgosip.CSeqHeader{SeqNo: d.CSeq, MethodName: sipgosip.ACK})
	req.AppendHeader(&maxFwd)
	req.SetBody(nil)
	req.SetTransport(strings.ToUpper(cmpOr(d.Transport, "udp")))
	if to := req.To(); to == nil || !to.Params.Has("tag") {
		return nil, ErrIncompleteDialog
	}
	return req, nil
}
