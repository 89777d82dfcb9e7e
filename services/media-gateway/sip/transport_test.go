package sip_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/ringback/ringback/libs/siptest"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

// TestSIPOverTCPWithSipp: a phone (sipp -t t1) registers over TCP with MD5
// digest; the gateway rings it over TCP (its Contact named no transport)
// and dials the contact through a trunk reached over TCP; a call from
// outside over TCP is refused 403, as over UDP (issue 16, point 8).
func TestSIPOverTCPWithSipp(t *testing.T) {
	t.Parallel()
	answer, err := siptest.Answer.XML()
	if err != nil {
		t.Fatal(err)
	}
	phone := startSippStream(t, "t1", string(answer), "")
	trunk := startSippStream(t, "t1", string(answer), "")
	g := startGateway(t, trunk.Addr, func(c *sip.Config) {
		withAccounts(c)
		c.ListenTCP = "127.0.0.1:0"
		c.TrunkTransport = sip.TransportTCP
	})

	reg := startSippStream(t, "t1", registerScenario("a1", accounts["a1"].Password, phone.Addr), g.AddrTCP())
	if code := reg.wait(t); code != 0 {
		t.Fatalf("sipp REGISTER over TCP exited %d, want 0 (401 then 200)", code)
	}
	contact, ok := g.Registered("a1")
	if !ok || !strings.Contains(contact, "@"+phone.Addr) || !strings.Contains(contact, "transport=tcp") {
		t.Fatalf("Registered(a1) = %q, %v; want the phone at %s;transport=tcp", contact, ok, phone.Addr)
	}

	ctx := context.Background()
	rec := &recorder{}
	call, err := g.Dial(ctx, "call-tcp", "registered:a1", number, rec.report)
	if err != nil {
		t.Fatalf("Dial over TCP: %v", err)
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	rec.wantKinds(t, sip.AgentRinging, sip.AgentAnswered, sip.ContactRinging, sip.Connected, sip.Ended)
	for name, s := range map[string]*sippStream{"phone": phone, "trunk": trunk} {
		for _, m := range s.WaitRequests(t, "BYE", 1) {
			if via := m.Header("Via"); !strings.HasPrefix(via, "SIP/2.0/TCP") {
				t.Errorf("%s: BYE Via %q, want TCP", name, via)
			}
		}
		for _, m := range s.WaitRequests(t, "INVITE", 1) {
			if via := m.Header("Via"); !strings.HasPrefix(via, "SIP/2.0/TCP") {
				t.Errorf("%s: INVITE Via %q, want TCP", name, via)
			}
		}
	}

	forbidden, err := siptest.InviteForbidden.XML()
	if err != nil {
		t.Fatal(err)
	}
	if code := startSippStream(t, "t1", string(forbidden), g.AddrTCP()).wait(t); code != 0 {
		t.Errorf("sipp INVITE from outside over TCP exited %d, want 0 (403)", code)
	}
}

// TestSIPOverTLSWithSipp: the same with sipp -t l1, where sipp has TLS.
func TestSIPOverTLSWithSipp(t *testing.T) {
	t.Parallel()
	sippTLS(t)
	cert, key := selfSigned(t, "sipp")
	tlsArgs := []string{"-tls_cert", cert, "-tls_key", key}
	answer, err := siptest.Answer.XML()
	if err != nil {
		t.Fatal(err)
	}
	phone := startSippStream(t, "l1", string(answer), "", tlsArgs...)
	trunk := startSippStream(t, "l1", string(answer), "", tlsArgs...)
	g := startGateway(t, trunk.Addr, func(c *sip.Config) {
		withAccounts(c)
		c.ListenTLS, c.TLSCertFile, c.TLSKeyFile, c.TLSCAFile = "127.0.0.1:0", cert, key, cert
		c.TrunkTransport = sip.TransportTLS
	})
	reg := startSippStream(t, "l1", registerScenario("a1", accounts["a1"].Password, phone.Addr), g.AddrTLS(), tlsArgs...)
	if code := reg.wait(t); code != 0 {
		t.Fatalf("sipp REGISTER over TLS exited %d, want 0", code)
	}
	rec := &recorder{}
	call, err := g.Dial(context.Background(), "call-tls-sipp", "registered:a1", number, rec.report)
	if err != nil {
		t.Fatalf("Dial over TLS: %v", err)
	}
	_ = call.Hangup(context.Background())
	rec.wantKinds(t, sip.AgentRinging, sip.AgentAnswered, sip.ContactRinging, sip.Connected, sip.Ended)
	forbidden, _ := siptest.InviteForbidden.XML()
	if code := startSippStream(t, "l1", string(forbidden), g.AddrTLS(), tlsArgs...).wait(t); code != 0 {
		t.Errorf("sipp INVITE from outside over TLS exited %d, want 0 (403)", code)
	}
}

// TestSIPOverTLS: a phone (a diago UA) registers over TLS with a sips:
// Contact and is rung over TLS; the trunk is reached over TLS, its
// certificate verified against the CA file; media flows both ways.
func TestSIPOverTLS(t *testing.T) {
	t.Parallel()
	cert, key := selfSigned(t, "peers")
	phone := startGoUATLS(t, agentMark, cert, key, cert, false)
	trunk := startGoUATLS(t, contactMark, cert, key, cert, false)
	g := startGateway(t, trunk.Addr, func(c *sip.Config) {
		withAccounts(c)
		c.ListenTLS, c.TLSCertFile, c.TLSKeyFile, c.TLSCAFile = "127.0.0.1:0", cert, key, cert
		c.TrunkTransport = sip.TransportTLS
		c.KeepAlive = 50 * time.Millisecond
	})
	ctx := context.Background()
	// The keep-alive probes take the trunk's transport too.
	waitUntil(t, "OPTIONS probes answered over TLS", func() bool { return trunk.optionsAnswered() >= 3 })
	if !g.TrunkUp() {
		t.Error("the trunk over TLS answers its probes but is not up")
	}
	host, port := splitHostPort(t, g.AddrTLS())
	gw := sipgosip.Uri{Scheme: "sip", User: "a1", Host: host, Port: port, UriParams: sipgosip.NewParams()}
	gw.UriParams.Add("transport", "tls")
	reg, err := phone.dg.RegisterTransaction(ctx, gw, diago.RegisterOptions{Username: "a1", Password: accounts["a1"].Password, Expiry: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(ctx); err != nil {
		t.Fatalf("Register over TLS: %v", err)
	}
	contact, ok := g.Registered("a1")
	if !ok || !strings.HasPrefix(contact, "sip:") || !strings.Contains(contact, "transport=tls") {
		t.Fatalf("Registered(a1) = %q, %v; want a sip: contact with transport=tls", contact, ok)
	}

	rec := &recorder{}
	call, err := g.Dial(ctx, "call-tls", "registered:a1", number, rec.report)
	if err != nil {
		t.Fatalf("Dial over TLS: %v", err)
	}
	grows(t, "contact's audio at the agent", func() int { return phone.count(contactMark) }, 10)
	grows(t, "agent's audio at the contact", func() int { return trunk.count(agentMark) }, 10)
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	rec.wantKinds(t, sip.AgentRinging, sip.AgentAnswered, sip.ContactRinging, sip.Connected, sip.Ended)
	if phone.answered() != 1 || trunk.answered() != 1 {
		t.Errorf("phone answered %d, trunk %d calls; want 1 each", phone.answered(), trunk.answered())
	}
}

// TestTrunkTLSVerified: a trunk whose certificate no configured CA signed
// gets no INVITE; the call fails at the contact leg.
func TestTrunkTLSVerified(t *testing.T) {
	t.Parallel()
	trunkCert, trunkKey := selfSigned(t, "trunk")
	ourCert, ourKey := selfSigned(t, "gateway")
	trunk := startGoUATLS(t, contactMark, trunkCert, trunkKey, ourCert, false)
	agent := siptest.StartUAS(t, siptest.Answer)
	g := startGateway(t, trunk.Addr, func(c *sip.Config) {
		c.ListenTLS, c.TLSCertFile, c.TLSKeyFile = "127.0.0.1:0", ourCert, ourKey
		c.TLSCAFile = ourCert // not the trunk's
		c.TrunkTransport = sip.TransportTLS
	})
	rec := &recorder{}
	call, err := g.Dial(context.Background(), "call-untrusted-trunk", agentURI(agent), number, rec.report)
	oe := wantOutcome(t, call, err, sip.OutcomeFailed, 0)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("error %q (reason %q), want it to say the certificate was refused", err, oe.Reason)
	}
	if n := trunk.answered(); n != 0 {
		t.Errorf("the untrusted trunk answered %d calls", n)
	}
}

// TestTrunkSRTP: with TrunkSRTP the contact leg offers SRTP (SDES) over TLS,
// the audio flows both ways through it, and a trunk answering in clear fails
// the call instead of carrying it unencrypted.
func TestTrunkSRTP(t *testing.T) {
	t.Parallel()
	cert, key := selfSigned(t, "peers")
	withSRTP := func(c *sip.Config) {
		c.ListenTLS, c.TLSCertFile, c.TLSKeyFile, c.TLSCAFile = "127.0.0.1:0", cert, key, cert
		c.TrunkTransport, c.TrunkSRTP = sip.TransportTLS, true
	}
	ctx := context.Background()

	agent := startGoUA(t, agentMark)
	trunk := startGoUATLS(t, contactMark, cert, key, cert, true)
	g := startGateway(t, trunk.Addr, withSRTP)
	rec := &recorder{}
	call, err := g.Dial(ctx, "call-srtp", "sip:agent1@"+agent.Addr, number, rec.report)
	if err != nil {
		t.Fatalf("Dial with SRTP to the trunk: %v", err)
	}
	// The marks arrive intact only if both sides encrypt and decrypt alike.
	grows(t, "contact's audio at the agent", func() int { return agent.count(contactMark) }, 10)
	grows(t, "agent's audio at the contact", func() int { return trunk.count(agentMark) }, 10)
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	offers := trunk.sdpOffers()
	if len(offers) != 1 || !strings.Contains(offers[0], "RTP/SAVP") || !strings.Contains(offers[0], "a=crypto:") {
		t.Errorf("the trunk was offered %q, want RTP/SAVP with a=crypto", offers)
	}
	if offers := agent.sdpOffers(); len(offers) != 1 || strings.Contains(offers[0], "a=crypto:") {
		t.Errorf("the agent's phone was offered %q, want clear RTP (SRTP is the trunk's)", offers)
	}

	// A trunk that cannot take the offer refuses it; one that answers in
	// clear anyway is hung up on.
	refusing := startGoUATLS(t, contactMark, cert, key, cert, false)
	g2 := startGateway(t, refusing.Addr, withSRTP)
	call, err = g2.Dial(ctx, "call-srtp-refused", "sip:agent1@"+agent.Addr, number, (&recorder{}).report)
	if call != nil || err == nil {
		t.Fatalf("Dial through a trunk refusing SRTP: call %v, err %v; want it failed", call, err)
	}
	clear := startGoUATLS(t, contactMark, cert, key, cert, false)
	clear.clearAnswer = true
	g3 := startGateway(t, clear.Addr, withSRTP)
	rec = &recorder{}
	call, err = g3.Dial(ctx, "call-srtp-clear", "sip:agent1@"+agent.Addr, number, rec.report)
	var oe *sip.OutcomeError
	if call != nil || !errors.As(err, &oe) || oe.SIPCode != 488 {
		t.Fatalf("Dial through a trunk answering in clear: call %v, err %v; want it refused (488)", call, err)
	}
	waitUntil(t, "the clear answer hung up", func() bool { return clear.ended() == 1 })
	if rec.has(sip.Connected) {
		t.Error("a call through a trunk in clear was connected")
	}
}

// TestPhoneBehindNATOverTCP: a phone registered over TCP from behind a NAT
// (its Contact names an address nobody can reach) is rung over the
// connection it registered on, and the rest of the call (ACK, BYE) follows
// it; media flows both ways.
func TestPhoneBehindNATOverTCP(t *testing.T) {
	t.Parallel()
	phone := startGoUANAT(t, agentMark, "192.0.2.10") // TEST-NET-1: unreachable
	trunk := startGoUA(t, contactMark)
	g := startGateway(t, trunk.Addr, func(c *sip.Config) {
		withAccounts(c)
		c.ListenTCP = "127.0.0.1:0"
	})
	ctx := context.Background()
	// A phone that does not learn its public address (diago's own REGISTER
	// would, from rport): the REGISTER by hand, over the phone's stack, so
	// that requests coming back on its connection reach its handlers.
	client, err := sipgo.NewClient(phone.ua, sipgo.WithClientLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	host, port := splitHostPort(t, g.AddrTCP())
	aor := sipgosip.Uri{Scheme: "sip", User: "a1", Host: host, Port: port}
	req := sipgosip.NewRequest(sipgosip.REGISTER, sipgosip.Uri{Scheme: "sip", Host: host, Port: port})
	req.SetTransport("TCP")
	from := &sipgosip.FromHeader{Address: aor, Params: sipgosip.NewParams()}
	from.Params.Add("tag", sipgosip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sipgosip.ToHeader{Address: aor, Params: sipgosip.NewParams()})
	req.AppendHeader(sipgosip.NewHeader("Contact", "<sip:a1@192.0.2.10:5060;transport=tcp>"))
	req.AppendHeader(sipgosip.NewHeader("Expires", "60"))
	rctx, cancel := context.WithTimeout(ctx, waitLong)
	defer cancel()
	res, err := client.Do(rctx, req)
	if err == nil && res.StatusCode == 401 {
		res, err = client.DoDigestAuth(rctx, req, res, sipgo.DigestAuth{Username: "a1", Password: accounts["a1"].Password})
	}
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER over TCP from behind the NAT: %v %v", res, err)
	}
	if contact, ok := g.Registered("a1"); !ok || !strings.Contains(contact, "@192.0.2.10") {
		t.Fatalf("Registered(a1) = %q, %v; want the Contact behind the NAT", contact, ok)
	}

	rec := &recorder{}
	call, err := g.Dial(ctx, "call-nat", "registered:a1", number, rec.report)
	if err != nil {
		t.Fatalf("Dial the phone behind NAT: %v", err)
	}
	grows(t, "contact's audio at the agent", func() int { return phone.count(contactMark) }, 10)
	grows(t, "agent's audio at the contact", func() int { return trunk.count(agentMark) }, 10)
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	waitUntil(t, "the phone got the BYE", func() bool { return phone.ended() == 1 })
	rec.wantKinds(t, sip.AgentRinging, sip.AgentAnswered, sip.ContactRinging, sip.Connected, sip.Ended)
}
