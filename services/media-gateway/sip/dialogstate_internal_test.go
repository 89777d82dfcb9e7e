package sip

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"
)

func TestByeRequestFromRecordedDialog(t *testing.T) {
	d := Dialog{Role: RoleContact, CallID: "c1@gw", From: "<sip:ringback@10.0.0.1:5060>;tag=ours",
		To: "<sip:+442071838750@trunk.example:5080>;tag=theirs", CSeq: 3,
		RemoteTarget: "sip:trunk@192.0.2.7:5080", Transport: "udp"}
	req, dest, err := byeRequest(d)
	if err != nil {
		t.Fatal(err)
	}
	if dest != "192.0.2.7:5080" || req.Recipient.Host != "192.0.2.7" {
		t.Errorf("BYE to %s (Request-URI %s), want the remote target", dest, req.Recipient.String())
	}
	if req.CSeq().SeqNo != 3+ByeCSeqGap || req.CSeq().MethodName != sipgosip.BYE {
		t.Errorf("CSeq %v, want %d BYE", req.CSeq(), 3+ByeCSeqGap)
	}
	if tag, _ := req.From().Params.Get("tag"); tag != "ours" {
		t.Errorf("From tag %q", tag)
	}
	if tag, _ := req.To().Params.Get("tag"); tag != "theirs" {
		t.Errorf("To tag %q", tag)
	}

	// A route set: the request goes to the first route, loose routing.
	d.RouteSet = []string{"<sip:proxy.example:5070;lr>", "<sip:edge.example;lr>"}
	req, dest, err = byeRequest(d)
	if err != nil {
		t.Fatal(err)
	}
	if dest != "proxy.example:5070" || len(req.GetHeaders("Route")) != 2 || req.Recipient.Host != "192.0.2.7" {
		t.Errorf("routed BYE to %s with %d Route headers, Request-URI %s", dest, len(req.GetHeaders("Route")), req.Recipient.String())
	}

	for name, broken := range map[string]Dialog{
		"no call id":    {From: d.From, To: d.To, RemoteTarget: d.RemoteTarget},
		"no remote tag": {CallID: "c", From: d.From, To: "<sip:x@y>", RemoteTarget: d.RemoteTarget},
		"no target":     {CallID: "c", From: d.From, To: d.To},
	} {
		if _, _, err := byeRequest(broken); !errors.Is(err, ErrIncompleteDialog) {
			t.Errorf("%s: err %v, want ErrIncompleteDialog", name, err)
		}
	}
}

func TestParseSessionTimer(t *testing.T) {
	cases := []struct {
		name    string
		headers map[string]string
		want    sessionTimer
	}{
		{"none", nil, sessionTimer{}},
		{"we refresh", map[string]string{"Session-Expires": "1800;refresher=uac"}, sessionTimer{interval: 1800 * time.Second, refresher: true}},
		{"they refresh", map[string]string{"Session-Expires": "90;refresher=uas"}, sessionTimer{interval: 90 * time.Second}},
		{"compact form, UPDATE allowed", map[string]string{"x": "600 ; refresher=UAC", "Allow": "INVITE, UPDATE, BYE"},
			sessionTimer{interval: 600 * time.Second, refresher: true, update: true}},
		{"garbage", map[string]string{"Session-Expires": "soon"}, sessionTimer{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := sipgosip.NewResponse(sipgosip.StatusOK, "OK")
			for k, v := range c.headers {
				res.AppendHeader(sipgosip.NewHeader(k, v))
			}
			if got := parseSessionTimer(res); got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestPeerGone(t *testing.T) {
	res := func(code int) error {
		return fmt.Errorf("update: %w", sipgo.ErrDialogResponse{Res: sipgosip.NewResponse(code, "x")})
	}
	for _, c := range []struct {
		err  error
		gone bool
	}{
		{res(481), true}, {res(408), true}, {errors.New("transaction timed out"), true},
		{res(405), false}, {res(491), false}, {res(500), false},
	} {
		if got := peerGone(c.err); got != c.gone {
			t.Errorf("peerGone(%v) = %v, want %v", c.err, got, c.gone)
		}
	}
}
