package sip_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/siptest"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

// TestTransactionsPerSource: a source holding its share of requests in
// progress (REGISTERs waiting on a slow store) is answered 503 with
// Retry-After for the next, while another source is served; once its
// requests are answered it is served again (issue 16, point 6).
func TestTransactionsPerSource(t *testing.T) {
	t.Parallel()
	reg := &slowRegistry{entered: make(chan struct{}, 8), release: make(chan struct{})}
	// The trunk by name: the trunk's address is exempt, 127.0.0.1 is not.
	g := startGateway(t, "localhost:9", func(c *sip.Config) {
		withAccounts(c)
		c.MaxTransactionsPerSource = 2
	})
	g.SetRegistry(reg)
	released := false
	release := func() {
		if !released {
			released = true
			close(reg.release)
		}
	}
	t.Cleanup(release)

	p := rawPhone(t, "127.0.0.1", g.Addr())
	// Two REGISTERs in progress. A request answered a moment ago may still
	// hold its slot (its handler returns just after the answer), so one
	// refused now and then is tried again.
	for _, user := range []string{"a1", "a2"} {
		waitUntil(t, user+" in progress", func() bool { return p.startHeld(t, user, reg.entered) })
	}
	res, code := p.send(t, "a1", "")
	if code != 503 || header(res, "Retry-After") == "" {
		t.Fatalf("a third request while two are in progress: %d Retry-After %q, want 503 with Retry-After",
			code, header(res, "Retry-After"))
	}
	if other := rawPhone(t, "127.0.0.2", g.Addr()); other != nil {
		if _, code := other.send(t, "a1", ""); code != 401 {
			t.Errorf("another source meanwhile: %d, want 401 (served)", code)
		}
	}
	release()
	waitUntil(t, "the source served again", func() bool {
		_, code := p.send(t, "a1", "")
		return code == 401
	})
}

// startHeld sends user's REGISTER with the right password and reports
// whether it reached entered (and is held there) rather than being answered.
func (p *rawREGISTER) startHeld(t *testing.T, user string, entered <-chan struct{}) bool {
	t.Helper()
	res, code := p.send(t, user, "")
	if code != 401 {
		return false
	}
	msg, cseq := p.message(user, p.authorization(user, accounts[user].Password, nonceOf(t, res), 1))
	dst, err := net.ResolveUDPAddr("udp4", p.gw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.conn.WriteTo([]byte(msg), dst); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	for deadline := time.Now().Add(waitLong); time.Now().Before(deadline); {
		select {
		case <-entered:
			return true
		default:
		}
		_ = p.conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if n, _, err := p.conn.ReadFrom(buf); err == nil && header(string(buf[:n]), "CSeq") == cseq {
			return false // answered: refused
		}
	}
	t.Fatalf("REGISTER %s neither answered nor in progress within %s", user, waitLong)
	return false
}

// slowRegistry holds every Bind until released: a store that is slow to
// answer, so that requests stay in progress.
type slowRegistry struct {
	entered chan struct{}
	release chan struct{}
}

func (r *slowRegistry) Bind(ctx context.Context, _, _ string, _ time.Time, _ string) error {
	r.entered <- struct{}{}
	select {
	case <-r.release:
	case <-ctx.Done():
	}
	return nil
}

func (r *slowRegistry) Lookup(string) (string, time.Time, bool) { return "", time.Time{}, false }

// TestDialogsPerSource: a phone's address holds at most its share of legs;
// one more fails as 486 without an INVITE sent, and the slot comes back when
// the call ends. The trunk is exempt.
func TestDialogsPerSource(t *testing.T) {
	t.Parallel()
	agent := startGoUA(t, agentMark)
	trunk := siptest.StartUAS(t, siptest.Answer)
	// The trunk by name: its legs are exempt, the agent's at 127.0.0.1 count.
	g := startGateway(t, "localhost:"+strings.TrimPrefix(trunk.Addr, "127.0.0.1:"), func(c *sip.Config) {
		c.MaxDialogsPerSource = 1
	})
	ctx := context.Background()
	phone := "sip:agent1@" + agent.Addr

	first, err := g.Dial(ctx, "call-1", phone, number, (&recorder{}).report)
	if err != nil {
		t.Fatalf("first call: %v", err)
	}
	rec := &recorder{}
	call, err := g.Dial(ctx, "call-2", phone, number, rec.report)
	oe := wantOutcome(t, call, err, sip.OutcomeAgentUnavailable, 486)
	if !strings.Contains(oe.Reason, "too many calls") {
		t.Errorf("reason %q, want it to say too many calls", oe.Reason)
	}
	if n := agent.answered(); n != 1 {
		t.Errorf("the phone answered %d calls, want 1: the second INVITE must not be sent", n)
	}
	if err := first.Hangup(ctx); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	// The slot is released as the first call's dialog ends.
	waitUntil(t, "a call to the phone once the first ended", func() bool {
		call, err := g.Dial(ctx, "call-3", phone, number, (&recorder{}).report)
		if err != nil {
			return false
		}
		_ = call.Hangup(ctx)
		return true
	})
}

// TestConnectionsPerSource: a source holds at most its share of TCP
// connections; one more is closed at once, and room comes back when one of
// its connections closes.
func TestConnectionsPerSource(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "localhost:9", func(c *sip.Config) {
		c.ListenTCP = "127.0.0.1:0"
		c.MaxConnectionsPerSource = 2
	})
	dial := func() net.Conn {
		c, err := net.Dial("tcp4", g.AddrTCP())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	first := dial()
	if got := optionsOverTCP(t, first, g.AddrTCP(), "conn-1"); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Fatalf("OPTIONS on the first connection: %q, want 200", got)
	}
	second := dial()
	if got := optionsOverTCP(t, second, g.AddrTCP(), "conn-2"); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Fatalf("OPTIONS on the second connection: %q, want 200", got)
	}
	third := dial()
	_ = third.SetReadDeadline(time.Now().Add(waitLong))
	if n, err := third.Read(make([]byte, 1)); err == nil {
		t.Fatalf("the third connection read %d bytes, want it closed", n)
	}
	first.Close()
	waitUntil(t, "a new connection once one closed", func() bool {
		c := dial()
		defer c.Close()
		return strings.HasPrefix(optionsOverTCP(t, c, g.AddrTCP(), "conn-again"), "SIP/2.0 200")
	})
}

// optionsOverTCP sends an OPTIONS on c and returns the status line of the
// answer, "" when the connection closed first.
func optionsOverTCP(t *testing.T, c net.Conn, gw, callID string) string {
	t.Helper()
	local := c.LocalAddr().String()
	msg := "OPTIONS sip:ringback@" + gw + " SIP/2.0\r\n" +
		"Via: SIP/2.0/TCP " + local + ";branch=z9hG4bK-" + callID + "\r\n" +
		"From: <sip:probe@" + local + ">;tag=probe\r\n" +
		"To: <sip:ringback@" + gw + ">\r\n" +
		"Call-ID: " + callID + "@" + local + "\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Max-Forwards: 70\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(msg)); err != nil {
		return ""
	}
	_ = c.SetReadDeadline(time.Now().Add(waitLong))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return ""
	}
	status, _, _ := strings.Cut(string(buf[:n]), "\r\n")
	return status
}

// TestMalformedOverStreamsDoNotHurt: the RFC 4475 torture messages and
// garbage, each on its own TCP connection, and garbage where a TLS
// handshake should be, leave the gateway answering OPTIONS over TCP.
func TestMalformedOverStreamsDoNotHurt(t *testing.T) {
	t.Parallel()
	cert, key := selfSigned(t, "gateway")
	g := startGateway(t, "127.0.0.1:9", func(c *sip.Config) {
		c.ListenTCP = "127.0.0.1:0"
		c.ListenTLS, c.TLSCertFile, c.TLSKeyFile = "127.0.0.1:0", cert, key
		c.SourceRate = -1 // one source sends it all
	})
	messages := [][]byte{
		[]byte("INVITE sip:x@y SIP/2.0\r\nContent-Length: 99999999999\r\n\r\n"),
		[]byte(strings.Repeat("A", 70000)),
		[]byte("\r\n\r\n\r\n\r\n"),
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
	for addr, msgs := range map[string][][]byte{g.AddrTCP(): messages, g.AddrTLS(): messages[:2]} {
		for _, m := range msgs {
			c, err := net.Dial("tcp4", addr)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = c.Write(m) // the gateway may close first: fine
			c.Close()
		}
	}
	c, err := net.Dial("tcp4", g.AddrTCP())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := optionsOverTCP(t, c, g.AddrTCP(), "after-torture"); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Errorf("OPTIONS over TCP after the torture answered %q, want 200", got)
	}
}
