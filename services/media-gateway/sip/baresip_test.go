package sip_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/childproc"
	"github.com/ringback/ringback/libs/siptest"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

// TestBaresipRegistersAndAnswers: Debian 12's baresip (libre before 3.12
// aborts on any digest challenge that is not MD5, issue 16) registers with
// an account on the realm's default, MD5 alone, and answers the call the
// gateway places to it; the contact is reached through the trunk.
func TestBaresipRegistersAndAnswers(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("baresip")
	if err != nil {
		t.Skip("baresip not installed: apt-get install baresip-core")
	}
	trunk := siptest.StartUAS(t, siptest.Answer)
	g := startGateway(t, trunk.Addr, func(c *sip.Config) {
		withAccounts(c)
		c.AgentRingTimeout = 20 * time.Second // auto-answer takes milliseconds
	})

	phone := startBaresip(t, bin, "a2", accounts["a2"].Password, g.Addr())
	waitUntil(t, "baresip registered", func() bool {
		phone.checkAlive(t)
		_, ok := g.Registered("a2")
		return ok
	})

	// The same phone on an account that offers SHA-256 (before MD5, as RFC
	// 8760 orders them) cannot register: why MD5 alone is the default.
	sha := startBaresip(t, bin, "s1", accounts["s1"].Password, g.Addr())
	waitUntil(t, "baresip refusing the SHA-256 challenge", func() bool {
		out, _ := os.ReadFile(sha.out)
		return strings.Contains(string(out), "Function not implemented") || sha.exited()
	})
	out, _ := os.ReadFile(sha.out)
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "s1@") {
			t.Logf("baresip on the SHA-256 account: %s", strings.TrimSpace(line))
		}
	}
	if _, ok := g.Registered("s1"); ok {
		t.Error("baresip registered on an account challenged with SHA-256; expected libre < 3.12 to refuse")
	}

	// A phone with a mistyped password: its attempt fails, and the account
	// is not locked by it (one attempt, one failure of five); the right
	// password from the same address still registers.
	wrong := startBaresip(t, bin, "a1", "mistyped", g.Addr())
	waitUntil(t, "baresip's wrong password refused", func() bool {
		out, _ := os.ReadFile(wrong.out)
		return strings.Contains(string(out), "a1@127.0.0.1") && strings.Contains(string(out), "40")
	})
	wrong.stop()
	out, _ = os.ReadFile(wrong.out)
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "a1@") {
			t.Logf("baresip with a wrong password: %s", strings.TrimSpace(line))
		}
	}
	if got := rawPhone(t, "127.0.0.1", g.Addr()).registerWith(t, "a1", accounts["a1"].Password); got != 200 {
		t.Errorf("a1 with the right password after one wrong attempt from the same address: %d, want 200", got)
	}

	ctx := context.Background()
	rec := &recorder{}
	call, err := g.Dial(ctx, "call-baresip", "registered:a2", number, rec.report)
	if err != nil {
		t.Fatalf("Dial baresip: %v", err)
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	rec.wantKinds(t, sip.AgentRinging, sip.AgentAnswered, sip.ContactRinging, sip.Connected, sip.Ended)
	if got, _ := trunk.Received("INVITE"); len(got) != 1 {
		t.Errorf("trunk received %d INVITEs, want 1", len(got))
	}
}

// TestBaresipOverTCP: baresip registers over TCP and takes the call the
// gateway places to it over TCP (issue 16, point 8).
func TestBaresipOverTCP(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("baresip")
	if err != nil {
		t.Skip("baresip not installed: apt-get install baresip-core")
	}
	trunk := siptest.StartUAS(t, siptest.Answer)
	g := startGateway(t, trunk.Addr, func(c *sip.Config) {
		withAccounts(c)
		c.ListenTCP = "127.0.0.1:0"
		c.AgentRingTimeout = 20 * time.Second
	})
	phone := startBaresip(t, bin, "a2", accounts["a2"].Password, g.AddrTCP()+";transport=tcp")
	callOverTransport(t, g, phone, "tcp")
}

// TestBaresipOverTLS: baresip registers over TLS and takes the call the
// gateway places to it over TLS, the gateway verifying baresip's
// certificate against its CA file.
func TestBaresipOverTLS(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("baresip")
	if err != nil {
		t.Skip("baresip not installed: apt-get install baresip-core")
	}
	cert, key := selfSigned(t, "peers")
	// baresip wants its certificate and key in one PEM file.
	certPEM, _ := os.ReadFile(cert)
	keyPEM, _ := os.ReadFile(key)
	both := filepath.Join(t.TempDir(), "baresip.pem")
	if err := os.WriteFile(both, append(certPEM, keyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	trunk := siptest.StartUAS(t, siptest.Answer)
	g := startGateway(t, trunk.Addr, func(c *sip.Config) {
		withAccounts(c)
		c.ListenTLS, c.TLSCertFile, c.TLSKeyFile, c.TLSCAFile = "127.0.0.1:0", cert, key, cert
		c.AgentRingTimeout = 20 * time.Second
	})
	phone := startBaresip(t, bin, "a2", accounts["a2"].Password, g.AddrTLS()+";transport=tls",
		"sip_certificate "+both, "sip_cafile "+cert)
	callOverTransport(t, g, phone, "tls")
}

// callOverTransport waits for baresip (account a2) to register over
// transport (tcp, tls) and calls it there: its contact says the transport,
// the call goes through every step, and baresip took it over that transport.
func callOverTransport(t *testing.T, g *sip.Gateway, phone *baresip, transport string) {
	t.Helper()
	upper := strings.ToUpper(transport)
	var contact string
	waitUntil(t, "baresip registered over "+upper, func() bool {
		phone.checkAlive(t)
		var ok bool
		contact, ok = g.Registered("a2")
		return ok
	})
	if !strings.Contains(contact, "transport="+transport) {
		t.Errorf("baresip registered %q, want a %s contact", contact, upper)
	}
	ctx := context.Background()
	rec := &recorder{}
	call, err := g.Dial(ctx, "call-baresip-"+transport, "registered:a2", number, rec.report)
	if err != nil {
		t.Fatalf("Dial baresip over %s: %v", upper, err)
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	rec.wantKinds(t, sip.AgentRinging, sip.AgentAnswered, sip.ContactRinging, sip.Connected, sip.Ended)
	out, _ := os.ReadFile(phone.out)
	if !strings.Contains(string(out), "via "+upper) {
		t.Errorf("baresip did not take the call over %s:\n%s", upper, lastBytes(out, 2000))
	}
}

// baresip is one headless baresip process: its config directory in
// t.TempDir(), no UI module, a sine as microphone, the call's audio to a
// file, and auto-answer.
type baresip struct {
	cmd  *exec.Cmd
	out  string
	done chan struct{}
	err  error
}

// startBaresip registers user with registrar (host:port, with URI
// parameters such as ";transport=tcp").
func startBaresip(t *testing.T, bin, user, password, registrar string, extraConfig ...string) *baresip {
	t.Helper()
	// baresip binds its port on UDP and TCP and the next one for TLS; any
	// of them may be taken meanwhile (an ephemeral port of another test), and
	// it then exits at once: try other ports.
	for attempt := 1; ; attempt++ {
		b := runBaresip(t, bin, user, password, registrar, baresipPortT(t), extraConfig)
		waitUntil(t, "baresip ready", func() bool {
			out, _ := os.ReadFile(b.out)
			return strings.Contains(string(out), "baresip is ready") || b.exited()
		})
		if !b.exited() {
			return b
		}
		if out, _ := os.ReadFile(b.out); attempt == 5 || !strings.Contains(string(out), "Address already in use") {
			t.Fatalf("baresip exited (%v):\n%s", b.err, lastBytes(out, 4000))
		}
	}
}

func runBaresip(t *testing.T, bin, user, password, registrar string, port int, extraConfig []string) *baresip {
	t.Helper()
	dir := t.TempDir()
	config := strings.Join([]string{
		"poll_method epoll",
		fmt.Sprintf("sip_listen 127.0.0.1:%d", port),
		// ausine makes 48 kHz stereo only; baresip resamples for G.711.
		"audio_source ausine,440",
		"ausrc_srate 48000",
		"ausrc_channels 2",
		"audio_player aufile," + filepath.Join(dir, "heard.wav"),
		"audio_alert aufile,/dev/null",
		"module_path /usr/lib/baresip/modules",
		"module g711.so",
		"module ausine.so",
		"module aufile.so",
		"module_app account.so",
	}, "\n") + "\n" + strings.Join(extraConfig, "\n") + "\n"
	// answermode=auto: the agent's phone takes the call at once; regint: the
	// registration's Expires.
	account := fmt.Sprintf("<sip:%s@%s>;auth_pass=%s;answermode=auto;regint=60\n", user, registrar, password)
	for name, content := range map[string]string{"config": config, "accounts": account} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b := &baresip{out: filepath.Join(dir, "baresip.out"), done: make(chan struct{})}
	out, err := os.Create(b.out)
	if err != nil {
		t.Fatal(err)
	}
	b.cmd = exec.Command(bin, "-f", dir, "-v")
	b.cmd.Dir = dir
	b.cmd.Stdout, b.cmd.Stderr = out, out
	childproc.DieWithParent(b.cmd)
	if err := b.cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("start baresip: %v", err)
	}
	go func() { // owned by stop, which t.Cleanup calls
		defer close(b.done)
		defer out.Close()
		b.err = b.cmd.Wait()
	}()
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			o, _ := os.ReadFile(b.out)
			t.Logf("baresip output:\n%s", lastBytes(o, 4000))
		}
	})
	return b
}

// checkAlive fails the test when baresip has exited: it aborts on a
// challenge it cannot answer.
func (b *baresip) checkAlive(t *testing.T) {
	t.Helper()
	select {
	case <-b.done:
		o, _ := os.ReadFile(b.out)
		t.Fatalf("baresip exited (%v):\n%s", b.err, lastBytes(o, 4000))
	default:
	}
}

func (b *baresip) exited() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

func (b *baresip) stop() {
	select {
	case <-b.done:
		return
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

// baresipPortT is a port for baresip's sip_listen: free over UDP and TCP,
// with the next one free over TCP (baresip's TLS). It is drawn below the
// kernel's ephemeral range (32768 and up), where no outgoing connection of a
// test running beside it can take it between this check and baresip's bind:
// ephemeral ports are handed out densely, so the neighbour of one is often
// in use.
func baresipPortT(t *testing.T) int {
	t.Helper()
	for range 200 {
		port := 20000 + rand.IntN(12000)
		u, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l, terr := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
		l2, terr2 := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port+1))
		u.Close()
		for _, c := range []net.Listener{l, l2} {
			if c != nil {
				c.Close()
			}
		}
		if terr == nil && terr2 == nil {
			return port
		}
	}
	t.Fatal("no port free for baresip below the ephemeral range")
	return 0
}
