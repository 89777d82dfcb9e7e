package sip

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"
)

// FuzzInbound feeds arbitrary datagrams to the gateway's real request path:
// sipgo's parser, transaction layer, our screen and the handlers behind it,
// through the UDP socket of one gateway started for the whole run. After
// each input the gateway must still answer an OPTIONS with 200. The seeds
// are the RFC 4475 torture messages, read in place from shared/ (third-party
// data, never copied into the repository), and valid requests of every
// method we handle. Run it with
//
//	go test -run '^$' -fuzz FuzzInbound -fuzztime 60s ./sip/
func FuzzInbound(f *testing.F) {
	for _, m := range validRequests() {
		f.Add([]byte(m))
	}
	torture, _ := filepath.Glob(filepath.Join("..", "..", "..", "..", "shared", "rfc4475", "*.dat"))
	if len(torture) == 0 {
		f.Log("shared/rfc4475 not found next to the repository: own seeds only")
	}
	for _, p := range torture {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}

	g, addr := fuzzGateway(f)
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close() })
	var n atomic.Uint64
	parser := sipgosip.NewParser()

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 60000 { // not one UDP datagram
			t.Skip()
		}
		// The parser first, here, so that a panic in it names this input.
		_, _ = parser.ParseSIP(append([]byte(nil), data...))
		if _, err := c.WriteTo(data, addr); err != nil {
			t.Fatalf("send: %v", err)
		}
		id := fmt.Sprintf("fuzz-%d-%d", os.Getpid(), n.Add(1))
		if got := optionsStatus(c, g.Addr(), addr, id); !strings.HasPrefix(got, "SIP/2.0 200") {
			t.Fatalf("OPTIONS after input answered %q, want 200", got)
		}
	})
}

// fuzzGateway runs a gateway until the fuzz run ends, without the per-source
// rate limit: the fuzzer is one source sending thousands of requests a
// second.
func fuzzGateway(f *testing.F) (*Gateway, *net.UDPAddr) {
	g, err := New(Config{
		Listen: "127.0.0.1:0", Trunk: "127.0.0.1:9", CallerID: "ringback",
		SourceRate: -1, Accounts: map[string]Account{"agent1": {Password: "secret"}},
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	f.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				f.Errorf("Run: %v", err)
			}
		case <-time.After(time.Minute):
			f.Error("Run did not return after its context was cancelled")
		}
	})
	addr, err := net.ResolveUDPAddr("udp4", g.Addr())
	if err != nil {
		f.Fatal(err)
	}
	return g, addr
}

// optionsStatus sends OPTIONS with Call-ID id and returns the status line of
// its final response, skipping the answers to earlier inputs; "" after 10 s.
func optionsStatus(c net.PacketConn, gw string, dst net.Addr, id string) string {
	msg := fmt.Sprintf("OPTIONS sip:ringback@%[1]s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %[2]s;branch=z9hG4bK-%[3]s;rport\r\n"+
		"From: <sip:probe@%[2]s>;tag=probe\r\n"+
		"To: <sip:ringback@%[1]s>\r\n"+
		"Call-ID: %[3]s\r\n"+
		"CSeq: 1 OPTIONS\r\n"+
		"Max-Forwards: 70\r\n"+
		"Content-Length: 0\r\n\r\n", gw, c.LocalAddr(), id)
	buf := make([]byte, 65536)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.WriteTo([]byte(msg), dst); err != nil {
			return ""
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second)) // then resend, like a UA
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				break
			}
			res := string(buf[:n])
			status, _, _ := strings.Cut(res, "\r\n")
			if strings.Contains(res, "Call-ID: "+id+"\r\n") && strings.HasPrefix(status, "SIP/2.0 ") &&
				!strings.HasPrefix(status, "SIP/2.0 1") {
				return status
			}
		}
	}
	return ""
}

// validRequests are well-formed requests of each kind the gateway sees:
// a call from outside, a keep-alive, a stray BYE, REGISTERs with and
// without credentials, a CANCEL, a method it does not handle.
func validRequests() []string {
	const hdr = "Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-%[1]s;rport\r\n" +
		"From: <sip:sipp@127.0.0.1:5099>;tag=f-%[1]s\r\n" +
		"To: <sip:%[2]s@127.0.0.1:5060>%[3]s\r\n" +
		"Call-ID: seed-%[1]s@127.0.0.1\r\n" +
		"CSeq: 1 %[4]s\r\n" +
		"Max-Forwards: 70\r\n"
	req := func(method, user, toTag, extra, body string) string {
		return fmt.Sprintf("%[4]s sip:%[2]s@127.0.0.1:5060 SIP/2.0\r\n"+hdr, method+"-seed", user, toTag, method) +
			extra + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
	}
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
	return []string{
		req("INVITE", "+14155550199", "", "Contact: <sip:sipp@127.0.0.1:5099>\r\nContent-Type: application/sdp\r\n", sdp),
		req("INVITE", "agent1", ";tag=nosuchdialog", "Contact: <sip:sipp@127.0.0.1:5099>\r\nContent-Type: application/sdp\r\n", sdp),
		req("OPTIONS", "ringback", "", "Accept: application/sdp\r\n", ""),
		req("BYE", "ringback", ";tag=nosuchdialog", "", ""),
		req("BYE", "ringback", "", "", ""),
		req("CANCEL", "ringback", "", "", ""),
		req("ACK", "ringback", ";tag=x", "", ""),
		req("REGISTER", "agent1", "", "Contact: <sip:agent1@127.0.0.1:5099>\r\nExpires: 60\r\n", ""),
		req("REGISTER", "agent1", "", "Contact: <sip:agent1@127.0.0.1:5099>\r\n"+
			`Authorization: Digest username="agent1", realm="ringback", nonce="00", uri="sip:127.0.0.1", response="00", qop=auth, nc=00000001, cnonce="c"`+"\r\n", ""),
		req("MESSAGE", "ringback", "", "Content-Type: text/plain\r\n", "hello"),
	}
}
