package sip_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/ringback/ringback/libs/siptest"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

// TestInviteFloodRejected: a toll-fraud scan (sipp, 3000 INVITEs at 500/s
// from one source) places no call, every INVITE answered is answered 403,
// the source's excess is dropped, and right after the flood the gateway
// answers OPTIONS from another source and places a normal call.
func TestInviteFloodRejected(t *testing.T) {
	t.Parallel()
	const rate, calls = 500, 3000
	agent := siptest.StartUAS(t, siptest.Answer)
	trunk := siptest.StartUAS(t, siptest.Answer)
	g := startGateway(t, trunk.Addr, nil)

	flood := siptest.RunUACFlood(t, siptest.InviteForbidden, g.Addr(), rate, calls)
	msgs, err := flood.Messages()
	if err != nil {
		t.Fatal(err)
	}
	codes := map[int]int{}
	invites := 0
	for _, m := range msgs {
		switch {
		case m.Sent && m.Method() == "INVITE":
			invites++
		case !m.Sent && m.StatusCode() >= 200:
			codes[m.StatusCode()]++
		}
	}
	t.Logf("flood: %d INVITEs sent (retransmissions included), final responses %v, sipp exit %d", invites, codes, flood.ExitCode)
	if invites < calls {
		t.Fatalf("sipp sent %d INVITEs, want at least %d", invites, calls)
	}
	for code, n := range codes {
		if code != 403 {
			t.Errorf("%d INVITEs from outside answered %d, want 403 only", n, code)
		}
	}
	// The source's excess was dropped: at most the burst plus the rate over
	// the flood's duration is answered (doubled: sipp's clock is not ours).
	if max := 2 * sip.DefaultSourceRate * (2 + calls/rate + 3); codes[403] == 0 || codes[403] > max {
		t.Errorf("%d INVITEs answered 403, want some and at most %d: the rest dropped", codes[403], max)
	}
	if got, _ := trunk.Received("INVITE"); len(got) != 0 {
		t.Fatalf("the flood reached the trunk: %d INVITEs", len(got))
	}
	if got, _ := agent.Received("INVITE"); len(got) != 0 {
		t.Fatalf("the flood reached the agent's phone: %d INVITEs", len(got))
	}

	// Another source (127.0.0.2 is loopback too) is served at once.
	c, err := net.ListenPacket("udp4", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no second loopback address: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	options := fmt.Sprintf("OPTIONS sip:ringback@%[1]s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %[2]s;branch=z9hG4bK-after-flood;rport\r\n"+
		"From: <sip:probe@%[2]s>;tag=probe\r\n"+
		"To: <sip:ringback@%[1]s>\r\n"+
		"Call-ID: after-flood@127.0.0.2\r\n"+
		"CSeq: 1 OPTIONS\r\n"+
		"Max-Forwards: 70\r\n"+
		"Content-Length: 0\r\n\r\n", g.Addr(), c.LocalAddr())
	if got := exchange(t, c, g.Addr(), options); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Errorf("OPTIONS from another source after the flood answered %q, want 200", got)
	}

	rec := &recorder{}
	call, err := g.Dial(context.Background(), "call-after-flood", agentURI(agent), number, rec.report)
	if err != nil {
		t.Fatalf("Dial after the flood: %v", err)
	}
	if err := call.Hangup(context.Background()); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	rec.wantKinds(t, sip.AgentRinging, sip.AgentAnswered, sip.ContactRinging, sip.Connected, sip.Ended)
	if got, _ := trunk.Received("INVITE"); len(got) != 1 {
		t.Errorf("trunk received %d INVITEs, want the one call", len(got))
	}
}
