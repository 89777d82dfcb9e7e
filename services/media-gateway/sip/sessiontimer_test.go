package sip_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/ringback/ringback/services/media-gateway/sip"
)

// timerTrunk is a trunk that keeps RFC 4028 session timers: it answers
// with Session-Expires (refresher=uac: the gateway refreshes) and allows
// UPDATE; it answers refreshes until told to forget the dialog (481).
type timerTrunk struct {
	Addr string

	mu      sync.Mutex
	invite  *sipgosip.Request
	updates int
	byes    int
	forget  bool
}

func startTimerTrunk(t *testing.T, interval string) *timerTrunk {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &timerTrunk{Addr: conn.LocalAddr().String()}
	quiet := slog.New(slog.DiscardHandler)
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransactionLayerOptions(sipgosip.WithTransactionLayerLogger(quiet)),
		sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(quiet)))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
	srv.OnInvite(func(req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		tr.mu.Lock()
		tr.invite = req.Clone()
		tr.mu.Unlock()
		res := sipgosip.NewResponseFromRequest(req, sipgosip.StatusOK, "OK", []byte(sdp))
		res.To().Params.Add("tag", "trunk-tag")
		res.AppendHeader(sipgosip.NewHeader("Contact", "<sip:trunk@"+tr.Addr+">"))
		res.AppendHeader(sipgosip.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(sipgosip.NewHeader("Session-Expires", interval+";refresher=uac"))
		res.AppendHeader(sipgosip.NewHeader("Require", "timer"))
		res.AppendHeader(sipgosip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, UPDATE"))
		_ = tx.Respond(res)
	})
	srv.OnAck(func(*sipgosip.Request, sipgosip.ServerTransaction) {})
	srv.OnUpdate(func(req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		tr.mu.Lock()
		tr.updates++
		forget := tr.forget
		tr.mu.Unlock()
		if forget {
			_ = tx.Respond(sipgosip.NewResponseFromRequest(req, sipgosip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
			return
		}
		res := sipgosip.NewResponseFromRequest(req, sipgosip.StatusOK, "OK", nil)
		res.AppendHeader(sipgosip.NewHeader("Session-Expires", interval+";refresher=uac"))
		_ = tx.Respond(res)
	})
	srv.OnBye(func(req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		tr.mu.Lock()
		tr.byes++
		tr.mu.Unlock()
		_ = tx.Respond(sipgosip.NewResponseFromRequest(req, sipgosip.StatusOK, "OK", nil))
	})
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.ServeUDP(conn)
	}()
	t.Cleanup(func() {
		conn.Close()
		<-served
		ua.Close()
	})
	waitUntil(t, "timer trunk listening", func() bool {
		_, err := ua.TransportLayer().GetConnection("udp", tr.Addr)
		return err == nil
	})
	return tr
}

func (tr *timerTrunk) counts() (updates, byes int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.updates, tr.byes
}

// TestSessionTimers: every INVITE offers a session interval; when the
// trunk keeps it with the gateway as refresher, the gateway refreshes the
// session (UPDATE, the trunk allowing it) every half interval; when a
// refresh fails (481: the trunk forgot the call), the call is hung up.
func TestSessionTimers(t *testing.T) {
	t.Parallel()
	trunk := startTimerTrunk(t, "2")
	g := startGateway(t, trunk.Addr, func(c *sip.Config) { c.SessionExpires = 2 * time.Second; c.MinSE = time.Second })
	agent := startGoUA(t, agentMark)
	rec := &recorder{}
	call, err := g.Dial(context.Background(), "timer-1", "sip:agent1@"+agent.Addr, number, rec.report)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	trunk.mu.Lock()
	inv := trunk.invite
	trunk.mu.Unlock()
	se, minSE, sup := inv.GetHeader("Session-Expires"), inv.GetHeader("Min-SE"), inv.GetHeader("Supported")
	if se == nil || se.Value() != "2;refresher=uac" || minSE == nil || minSE.Value() != "1" || sup == nil || !strings.Contains(sup.Value(), "timer") {
		t.Fatalf("INVITE offered Session-Expires %v, Min-SE %v, Supported %v; want 2;refresher=uac, 1, timer", se, minSE, sup)
	}
	waitUntil(t, "two refreshes", func() bool {
		u, _ := trunk.counts()
		return u >= 2
	})
	trunk.mu.Lock()
	trunk.forget = true
	trunk.mu.Unlock()
	waitClosed(t, call.Ended(), "call ended after a failed refresh")
	if p := rec.last(); p.Kind != sip.Ended || p.Reason != sip.ReasonSessionExpired || p.End != sip.EndSessionExpired {
		t.Errorf("last report %+v, want Ended with %q", p, sip.ReasonSessionExpired)
	}
	waitUntil(t, "the agent's leg hung up", func() bool { return agent.ended() == 1 })
}
