package mediagateway_test

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	mediagateway "github.com/ringback/ringback/services/media-gateway"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

// TestLoadAccounts: a password alone (the realm's default algorithms) or an
// object naming the account's algorithms, put in RFC 8760 order.
func TestLoadAccounts(t *testing.T) {
	write := func(content string) string {
		p := filepath.Join(t.TempDir(), "accounts.json")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := mediagateway.LoadAccounts(write(`{"a1": "s1", "a2": {"password": "s2", "algorithms": ["md5", "SHA-256"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if a := got["a1"]; a.Password != "s1" || a.Algorithms != nil {
		t.Errorf("a1 = %+v, want password s1 and the realm's algorithms", a)
	}
	if a := got["a2"]; a.Password != "s2" || !slices.Equal(a.Algorithms, []string{"SHA-256", "MD5"}) {
		t.Errorf("a2 = %+v, want password s2, SHA-256 then MD5", a)
	}
	for name, bad := range map[string]string{
		"empty password":    `{"a1": ""}`,
		"unknown algorithm": `{"a1": {"password": "s", "algorithms": ["SHA-1"]}}`,
		"misspelt field":    `{"a1": {"password": "s", "algorithm": ["MD5"]}}`,
		"not JSON":          `a1=s`,
	} {
		if _, err := mediagateway.LoadAccounts(write(bad)); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

// TestSIPConfigApply: TCP on --sip's address unless off, TLS only with a
// certificate, on port 5061 by default; the trunk over TLS needs it.
func TestSIPConfigApply(t *testing.T) {
	parse := func(args ...string) (*mediagateway.SIPConfig, error) {
		var c mediagateway.SIPConfig
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		c.RegisterFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return &c, c.Validate()
	}
	c, err := parse()
	if err != nil {
		t.Fatal(err)
	}
	var sc sip.Config
	if err := c.Apply(&sc, "10.0.0.5:5060"); err != nil {
		t.Fatal(err)
	}
	if sc.ListenTCP != "10.0.0.5:5060" || sc.ListenTLS != "" || !slices.Equal(sc.DigestAlgorithms, []string{"MD5"}) ||
		sc.TrunkTransport != "udp" || sc.TLSInsecureSkipVerify {
		t.Errorf("defaults: %+v", sc)
	}

	c, err = parse("--media.sip-tcp=off", "--media.sip-tls-cert=c.pem", "--media.sip-tls-key=k.pem",
		"--media.trunk-transport=tls", "--media.trunk-srtp", "--media.sip-digest=MD5,SHA-256")
	if err != nil {
		t.Fatal(err)
	}
	sc = sip.Config{}
	if err := c.Apply(&sc, "10.0.0.5:5060"); err != nil {
		t.Fatal(err)
	}
	if sc.ListenTCP != "" || sc.ListenTLS != "10.0.0.5:5061" || sc.TLSCertFile != "c.pem" ||
		!slices.Equal(sc.DigestAlgorithms, []string{"SHA-256", "MD5"}) || sc.TrunkTransport != "tls" || !sc.TrunkSRTP {
		t.Errorf("TLS: %+v", sc)
	}

	for _, bad := range [][]string{
		{"--media.trunk-transport=tls"},               // no certificate
		{"--media.sip-tls=0.0.0.0:5061"},              // no certificate
		{"--media.sip-tls-cert=c.pem"},                // no key
		{"--media.sip-digest=SHA-512"},                // unknown
		{"--media.trunk-transport=sctp"},              // unknown
		{"--media.sip-max-transactions-per-source=0"}, // neither a limit nor -1
		{"--media.sip-max-dialogs-per-source=0"},      // neither a limit nor -1
	} {
		if _, err := parse(bad...); err == nil {
			t.Errorf("%v: valid", bad)
		}
	}
	if c, err := parse("--media.sip-tcp=off", "--media.trunk-transport=tcp"); err == nil {
		if err := c.Apply(&sip.Config{}, "127.0.0.1:5060"); err == nil {
			t.Error("a trunk over TCP without the TCP listener: applied")
		}
	}
}
