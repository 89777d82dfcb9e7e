package sip_test

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestLockoutAimsAtAccountAndSource: failures lock the account from the
// address they came from, not every phone behind that address nor the
// account elsewhere (issue 16, point 7); one attempt resent counts once; a
// source failing for many accounts is refused whatever it sends.
func TestLockoutAimsAtAccountAndSource(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "127.0.0.1:9", withAccounts)
	office := rawPhone(t, "127.0.0.1", g.Addr())

	// One registration attempt with a wrong password, resent five times
	// (new transactions, same credentials): 403, one failure, no lock.
	nonce := office.challenge(t, "a1")
	wrong := office.authorization("a1", "mistyped", nonce, 1)
	for i := 0; i < 6; i++ {
		if got := office.register(t, "a1", wrong); got != 403 {
			t.Fatalf("resend %d of one wrong attempt: %d, want 403", i, got)
		}
	}
	if got := office.registerWith(t, "a1", "secret-a1"); got != 200 {
		t.Fatalf("a1 with the right password after one wrong attempt: %d, want 200 (it counts once)", got)
	}
	// Four other guesses make five failures: a1 is locked from here.
	for i := 2; i <= 5; i++ {
		if got := office.registerWith(t, "a1", fmt.Sprintf("guess-%d", i)); got != 403 {
			t.Fatalf("guess %d: %d, want 403", i, got)
		}
	}
	if got := office.registerWith(t, "a1", "secret-a1"); got != 403 {
		t.Errorf("a1 with the right password from the locked address: %d, want 403", got)
	}
	// a2, behind the same address, is not affected.
	if got := office.registerWith(t, "a2", "secret-a2"); got != 200 {
		t.Errorf("a2 from the same address: %d, want 200", got)
	}
	// a1 from another address registers (127.0.0.2 is loopback too).
	if elsewhere := rawPhone(t, "127.0.0.2", g.Addr()); elsewhere != nil {
		if got := elsewhere.registerWith(t, "a1", "secret-a1"); got != 200 {
			t.Errorf("a1 from another address: %d, want 200", got)
		}
	}

	// A scan of user names from one source: bounded by the per-source guard,
	// after which even a right password is refused from there.
	scanner := rawPhone(t, "127.0.0.3", g.Addr())
	if scanner == nil {
		return
	}
	for i := 0; i < 29; i++ {
		if got := scanner.registerWith(t, fmt.Sprintf("user%d", i), "guess"); got != 403 {
			t.Fatalf("scan user%d: %d, want 403", i, got)
		}
	}
	if got := scanner.registerWith(t, "a2", "secret-a2"); got != 200 {
		t.Fatalf("29 failures from the scanner, then a real account: %d, want 200 (not yet blocked)", got)
	}
	if got := scanner.registerWith(t, "user29", "guess"); got != 403 {
		t.Fatalf("scan user29: %d, want 403", got)
	}
	if got := scanner.registerWith(t, "a2", "secret-a2"); got != 403 {
		t.Errorf("the scanning source after 30 failures, a real account: %d, want 403", got)
	}
}

// rawREGISTER is a phone speaking plain SIP over UDP from a chosen loopback
// address: sipgo's client cannot pick its source address per request.
type rawREGISTER struct {
	conn net.PacketConn
	gw   string
	seq  atomic.Int64
}

// rawPhone binds host:0; it skips the test when host is not available (only
// 127.0.0.1 is certain outside Linux).
func rawPhone(t *testing.T, host, gw string) *rawREGISTER {
	t.Helper()
	c, err := net.ListenPacket("udp4", host+":0")
	if err != nil {
		if host == "127.0.0.1" {
			t.Fatal(err)
		}
		t.Logf("no loopback address %s: %v; that part skipped", host, err)
		return nil
	}
	t.Cleanup(func() { c.Close() })
	return &rawREGISTER{conn: c, gw: gw}
}

// register sends one REGISTER (a new transaction) and returns the status.
func (p *rawREGISTER) register(t *testing.T, user, authorization string) int {
	t.Helper()
	_, code := p.send(t, user, authorization)
	return code
}

// challenge returns the nonce of a fresh 401.
func (p *rawREGISTER) challenge(t *testing.T, user string) string {
	t.Helper()
	res, code := p.send(t, user, "")
	if code != 401 {
		t.Fatalf("REGISTER %s without credentials: %d, want 401", user, code)
	}
	return nonceOf(t, res)
}

// registerWith registers as a phone does: challenge, then MD5 credentials.
func (p *rawREGISTER) registerWith(t *testing.T, user, password string) int {
	t.Helper()
	res, code := p.send(t, user, "")
	if code != 401 {
		return code
	}
	return p.register(t, user, p.authorization(user, password, nonceOf(t, res), 1))
}

func (p *rawREGISTER) send(t *testing.T, user, authorization string) (string, int) {
	t.Helper()
	msg, cseq := p.message(user, authorization)
	res := p.exchange(t, msg, cseq)
	var code int
	if _, err := fmt.Sscanf(res, "SIP/2.0 %d", &code); err != nil {
		t.Fatalf("answer %q: %v", res, err)
	}
	return res, code
}

// message is a new REGISTER transaction of user, and its CSeq.
func (p *rawREGISTER) message(user, authorization string) (msg, cseq string) {
	n := p.seq.Add(1)
	local := p.conn.LocalAddr().String()
	msg = fmt.Sprintf("REGISTER sip:%[1]s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %[2]s;branch=z9hG4bK-raw-%[4]d;rport\r\n"+
		"From: <sip:%[3]s@%[1]s>;tag=raw%[4]d\r\n"+
		"To: <sip:%[3]s@%[1]s>\r\n"+
		"Call-ID: raw-%[3]s@%[2]s\r\n"+
		"CSeq: %[4]d REGISTER\r\n"+
		"Contact: <sip:%[3]s@%[2]s>\r\n"+
		"Expires: 60\r\n"+
		"Max-Forwards: 70\r\n", p.gw, local, user, n)
	if authorization != "" {
		msg += "Authorization: " + authorization + "\r\n"
	}
	return msg + "Content-Length: 0\r\n\r\n", fmt.Sprintf("%d REGISTER", n)
}

// authorization is an MD5 digest answer (RFC 2617, qop=auth).
func (p *rawREGISTER) authorization(user, password, nonce string, nc int) string {
	h := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
	uri := "sip:" + p.gw
	ncs := fmt.Sprintf("%08x", nc)
	ha1 := h(user + ":ringback:" + password)
	ha2 := h("REGISTER:" + uri)
	resp := h(strings.Join([]string{ha1, nonce, ncs, "c0ffee", "auth", ha2}, ":"))
	return fmt.Sprintf(`Digest username="%s", realm="ringback", nonce="%s", uri="%s", algorithm=MD5, qop=auth, nc=%s, cnonce="c0ffee", response="%s"`,
		user, nonce, uri, ncs, resp)
}

// exchange sends msg, resending now and then as UDP wants, until the final
// response of that CSeq comes back; it returns the whole response.
func (p *rawREGISTER) exchange(t *testing.T, msg, cseq string) string {
	t.Helper()
	dst, err := net.ResolveUDPAddr("udp4", p.gw)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitLong)
	next := time.Now()
	buf := make([]byte, 65536)
	for time.Now().Before(deadline) {
		if !time.Now().Before(next) {
			if _, err := p.conn.WriteTo([]byte(msg), dst); err != nil {
				t.Fatalf("send: %v", err)
			}
			next = time.Now().Add(2 * time.Second)
		}
		_ = p.conn.SetReadDeadline(next)
		n, _, err := p.conn.ReadFrom(buf)
		if err != nil {
			continue
		}
		res := string(buf[:n])
		if header(res, "CSeq") == cseq && strings.HasPrefix(res, "SIP/2.0 ") && !strings.HasPrefix(res, "SIP/2.0 1") {
			return res
		}
	}
	t.Fatalf("no answer to %s within %s", cseq, waitLong)
	return ""
}
