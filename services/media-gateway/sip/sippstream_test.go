package sip_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/childproc"
	"github.com/ringback/ringback/libs/siptest"
)

// sipp over TCP and TLS. libs/siptest runs sipp over UDP only; these run it
// with -t t1 (one TCP connection) or -t l1 (one TLS connection), with the
// same logs, so its Logs methods read what sipp saw.

// sippStream is one sipp process over TCP or TLS.
type sippStream struct {
	siptest.Logs
	Addr string // where a UAS listens
	cmd  *exec.Cmd
	done chan struct{}
	code int
}

// sippTLS skips the test when sipp was built without OpenSSL, as Debian's
// sip-tester is ("To use a TLS transport you must compile SIPp with
// OpenSSL"): its version line lists TLS when it has it.
func sippTLS(t *testing.T) {
	t.Helper()
	out, _ := exec.Command(siptest.Sipp(t), "-v").CombinedOutput()
	version, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if !strings.Contains(version, "TLS") {
		t.Skipf("this sipp has no TLS (-t l1): built without OpenSSL, as Debian's sip-tester is (%s); "+
			"TestSIPOverTLS covers TLS with Go UAs", strings.TrimSpace(version))
	}
}

// startSippStream starts sipp with scenario (XML) over transport ("t1" or
// "l1") and args; a UAS (target "") listens on a free port of 127.0.0.1.
// It is stopped in t.Cleanup.
func startSippStream(t *testing.T, transport, scenario, target string, extra ...string) *sippStream {
	t.Helper()
	// A UAS's port may be taken between our probe and sipp's bind (any
	// socket bound to port 0 can get it): sipp exits, and another is tried.
	for attempt := 1; ; attempt++ {
		if s := runSippStream(t, transport, scenario, target, extra, attempt == 3); s != nil {
			return s
		}
	}
}

// runSippStream starts one sipp; for a UAS it returns nil when sipp exited
// before listening, unless last, which fails the test.
func runSippStream(t *testing.T, transport, scenario, target string, extra []string, last bool) *sippStream {
	t.Helper()
	bin := siptest.Sipp(t)
	dir := t.TempDir()
	s := &sippStream{done: make(chan struct{}), Logs: siptest.Logs{
		Dir: dir, MessageLog: dir + "/messages.log", ShortMessageLog: dir + "/short_messages.log",
		ErrorLog: dir + "/errors.log", StatsFile: dir + "/stats.csv", Output: dir + "/sipp.out",
	}}
	sf := filepath.Join(dir, "scenario.xml")
	if err := os.WriteFile(sf, []byte(scenario), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-sf", sf, "-t", transport, "-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin",
		"-trace_msg", "-message_file", s.MessageLog,
		"-trace_shortmsg", "-shortmessage_file", s.ShortMessageLog,
		"-trace_err", "-error_file", s.ErrorLog}
	port := 0
	if target == "" {
		port = freeTCPPort(t)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		args = append(args, "-p", strconv.Itoa(port))
	} else {
		args = append([]string{target}, append(args, "-m", "1",
			"-timeout", strconv.Itoa(int(siptest.WaitTimeout/time.Second))+"s", "-timeout_error")...)
	}
	args = append(args, extra...)
	out, err := os.Create(s.Output)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = out, out
	childproc.DieWithParent(s.cmd)
	if err := s.cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("start sipp: %v", err)
	}
	go func() { // owned by stop, which t.Cleanup calls
		defer close(s.done)
		defer out.Close()
		err := s.cmd.Wait()
		var exit *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exit):
			s.code = exit.ExitCode()
		default:
			s.code = -1
		}
	}()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			b, _ := os.ReadFile(s.MessageLog)
			o, _ := os.ReadFile(s.Output)
			t.Logf("sipp -t %s %s saw:\n%s\noutput:\n%s", transport, target, b, lastBytes(o, 2000))
		}
	})
	if port != 0 {
		exited := false
		waitUntil(t, "sipp listening on tcp "+s.Addr, func() bool {
			select {
			case <-s.done:
				exited = true
				return true
			default:
			}
			return tcpListening(port)
		})
		if exited {
			o, _ := os.ReadFile(s.Output)
			if last {
				t.Fatalf("sipp exited %d before listening:\n%s", s.code, lastBytes(o, 2000))
			}
			t.Logf("sipp exited %d before listening on %s, trying another port:\n%s", s.code, s.Addr, lastBytes(o, 500))
			return nil
		}
	}
	return s
}

// wait waits for a UAC to finish and returns its exit code (0: the scenario
// passed).
func (s *sippStream) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(siptest.WaitTimeout + 5*time.Second): // its own -timeout ends it first
		t.Fatal("sipp did not finish")
	}
	return s.code
}

func (s *sippStream) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func lastBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// tcpListening reads /proc/net/tcp for a listening socket on 127.0.0.1:port
// (connecting to find out would hand sipp a connection it did not expect).
func tcpListening(port int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		time.Sleep(500 * time.Millisecond) // not Linux: give sipp time to bind
		return true
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && f[1] == want && f[3] == "0A" {
			return true
		}
	}
	return false
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and localhost,
// and its key, as PEM into t.TempDir(); the certificate is its own CA, so
// the same file is the CA file of whoever must trust it.
func selfSigned(t *testing.T, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// registerScenario is a phone registering user over the stream: challenged,
// it answers with sipp's MD5 digest ([authentication], qop=auth) and wants
// 200. Its Contact is contact, without a transport parameter: the gateway
// adds the one the REGISTER came over.
func registerScenario(user, password, contact string) string {
	return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="register">
  <send>
    <![CDATA[

      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:` + user + `@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:` + user + `@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:` + user + `@` + contact + `>
      Expires: 60
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="401" auth="true"/>
  <send>
    <![CDATA[

      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:` + user + `@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:` + user + `@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:` + user + `@` + contact + `>
      [authentication username=` + user + ` password=` + password + `]
      Expires: 60
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
`
}
