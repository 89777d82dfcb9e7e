package sip_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/siptest"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

// What reaches the gateway from outside: it answers OPTIONS, refuses calls,
// knows no stray dialog and survives anything.

func TestOptionsAnswered(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "127.0.0.1:9", nil)
	if uac := siptest.RunUAC(t, siptest.SendOptions, g.Addr()); uac.ExitCode != 0 {
		t.Fatalf("OPTIONS not answered 200: sipp exited %d", uac.ExitCode)
	}
}

func TestListenWithoutHost(t *testing.T) {
	t.Parallel()
	g, err := sip.New(sip.Config{Listen: ":0", Trunk: "127.0.0.1:9", CallerID: "ringback"}, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, port, _ := net.SplitHostPort(g.Addr())
	if port == "0" || port == "" {
		t.Fatalf("Addr %q has no bound port", g.Addr())
	}
	if err := g.Close(); err != nil { // never run: Close releases the port
		t.Errorf("Close: %v", err)
	}
	g = startGatewayListening(t, ":0")
	_, port, _ = net.SplitHostPort(g.Addr())
	if uac := siptest.RunUAC(t, siptest.SendOptions, net.JoinHostPort("127.0.0.1", port)); uac.ExitCode != 0 {
		t.Fatalf("OPTIONS to a gateway on all addresses not answered 200: sipp exited %d", uac.ExitCode)
	}
}

func TestCallFromOutsideForbidden(t *testing.T) {
	t.Parallel()
	trunk := siptest.StartUAS(t, siptest.Answer)
	g := startGateway(t, trunk.Addr, nil)
	if uac := siptest.RunUAC(t, siptest.InviteForbidden, g.Addr()); uac.ExitCode != 0 {
		t.Fatalf("INVITE from outside not answered 403: sipp exited %d", uac.ExitCode)
	}
	if got, _ := trunk.Received("INVITE"); len(got) != 0 {
		t.Errorf("a call from outside reached the trunk: %v", got)
	}
}

func TestStrayByeAnswered481(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "127.0.0.1:9", nil)
	for name, toTag := range map[string]string{"with to tag": ";tag=nosuchdialog", "without to tag": ""} {
		c := udpClient(t)
		bye := fmt.Sprintf("BYE sip:ringback@%[1]s SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP %[2]s;branch=z9hG4bK-stray-%[3]d;rport\r\n"+
			"From: <sip:agent1@%[2]s>;tag=abc\r\n"+
			"To: <sip:ringback@%[1]s>%[4]s\r\n"+
			"Call-ID: stray-%[3]d@127.0.0.1\r\n"+
			"CSeq: 2 BYE\r\n"+
			"Max-Forwards: 70\r\n"+
			"Content-Length: 0\r\n\r\n", g.Addr(), c.LocalAddr(), len(toTag), toTag)
		if got := exchange(t, c, g.Addr(), bye); !strings.HasPrefix(got, "SIP/2.0 481") {
			t.Errorf("stray BYE %s answered %q, want 481", name, got)
		}
	}
}

// TestMalformedRequestsDoNotHurt sends the RFC 4475 torture messages (read in
// place from shared/, third-party data) and some garbage, then checks that
// the gateway still answers OPTIONS; Run must still return nil at cleanup.
// The gateway answers to the source address (127.0.0.1), never to the Via
// hosts in the messages.
func TestMalformedRequestsDoNotHurt(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "127.0.0.1:9", nil)
	c := udpClient(t)
	dst, err := net.ResolveUDPAddr("udp4", g.Addr())
	if err != nil {
		t.Fatal(err)
	}
	messages := [][]byte{
		{0},
		[]byte("\r\n\r\n"),
		[]byte("INVITE"),
		[]byte("INVITE sip:x@y SIP/2.0\r\nContent-Length: 99999999999\r\n\r\n"),
		[]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:1\r\n\r\n"),
		[]byte(strings.Repeat("A", 60000)),
	}
	torture, _ := filepath.Glob(filepath.Join("..", "..", "..", "..", "shared", "rfc4475", "*.dat"))
	if len(torture) == 0 {
		t.Log("shared/rfc4475 not found next to the repository: garbage only")
	}
	for _, f := range torture {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		messages = append(messages, b)
	}
	for _, m := range messages {
		if _, err := c.WriteTo(m, dst); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	// Drain what the gateway answered, so the OPTIONS answer is read next.
	// (It answers valid messages among them with 403, 405, 481, ...)
	drain(c)
	options := fmt.Sprintf("OPTIONS sip:ringback@%[1]s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %[2]s;branch=z9hG4bK-after-torture;rport\r\n"+
		"From: <sip:probe@%[2]s>;tag=probe\r\n"+
		"To: <sip:ringback@%[1]s>\r\n"+
		"Call-ID: after-torture@127.0.0.1\r\n"+
		"CSeq: 1 OPTIONS\r\n"+
		"Max-Forwards: 70\r\n"+
		"Content-Length: 0\r\n\r\n", g.Addr(), c.LocalAddr())
	if got := exchange(t, c, g.Addr(), options); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Errorf("OPTIONS after torture answered %q, want 200", got)
	}
}

func udpClient(t *testing.T) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends one request and returns the status line of the first final
// response to it (matched by Call-ID), or "" after waitLong.
func exchange(t *testing.T, c net.PacketConn, to, msg string) string {
	t.Helper()
	dst, err := net.ResolveUDPAddr("udp4", to)
	if err != nil {
		t.Fatal(err)
	}
	callID := header(msg, "Call-ID")
	deadline := time.Now().Add(waitLong)
	next := time.Now()
	buf := make([]byte, 65536)
	for time.Now().Before(deadline) {
		if !time.Now().Before(next) { // UDP: resend now and then, like a UA would
			if _, err := c.WriteTo([]byte(msg), dst); err != nil {
				t.Fatalf("send: %v", err)
			}
			next = time.Now().Add(2 * time.Second)
		}
		_ = c.SetReadDeadline(next)
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			continue
		}
		res := string(buf[:n])
		status, _, _ := strings.Cut(res, "\r\n")
		if header(res, "Call-ID") == callID && strings.HasPrefix(status, "SIP/2.0 ") && !strings.HasPrefix(status, "SIP/2.0 1") {
			return status
		}
	}
	return ""
}

func drain(c net.PacketConn) {
	buf := make([]byte, 65536)
	for {
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, _, err := c.ReadFrom(buf); err != nil {
			return
		}
	}
}

func header(msg, name string) string {
	for _, line := range strings.Split(msg, "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
