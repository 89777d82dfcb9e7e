package sip_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/ringback/ringback/libs/siptest"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

// accounts: a1 and a2 get the realm's default (MD5 alone), s1 is a phone
// that answers SHA-256 too, s2 one that must answer SHA-256.
var accounts = map[string]sip.Account{
	"a1": {Password: "secret-a1"},
	"a2": {Password: "secret-a2"},
	"s1": {Password: "secret-s1", Algorithms: []string{"MD5", "SHA-256"}},
	"s2": {Password: "secret-s2", Algorithms: []string{"SHA-256"}},
}

func withAccounts(c *sip.Config) { c.Accounts = accounts }

// TestRegisterAndDial: an agent's phone (a Go UA) registers with digest
// authentication and Dial rings it as "registered:a1".
func TestRegisterAndDial(t *testing.T) {
	t.Parallel()
	trunk := siptest.StartUAS(t, siptest.Answer)
	g := startGateway(t, trunk.Addr, withAccounts)
	phone := startGoUA(t, agentMark)
	ctx := context.Background()

	for _, agent := range []string{"registered:a1", ""} {
		rec := &recorder{}
		call, err := g.Dial(ctx, "call-unregistered", agent, number, rec.report)
		if oe := wantOutcome(t, call, err, sip.OutcomeAgentNotRegistered, 0); oe.Reason != sip.ReasonNotRegistered {
			t.Errorf("Dial(%q) reason %q, want %q", agent, oe.Reason, sip.ReasonNotRegistered)
		}
		rec.wantKinds(t, sip.Failed)
	}

	host, port := splitHostPort(t, g.Addr())
	reg, err := phone.dg.RegisterTransaction(ctx, sipgosip.Uri{Scheme: "sip", User: "a1", Host: host, Port: port},
		diago.RegisterOptions{Username: "a1", Password: accounts["a1"].Password, Expiry: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(ctx); err != nil {
		t.Fatalf("Register: %v", err)
	}
	contact, ok := g.Registered("a1")
	if !ok || !strings.Contains(contact, "@"+phone.Addr) {
		t.Fatalf("Registered(a1) = %q, %v; want the phone's contact at %s", contact, ok, phone.Addr)
	}
	if c, ok := g.Registered("a2"); ok {
		t.Errorf("Registered(a2) = %q for a user that never registered", c)
	}

	rec := &recorder{}
	call, err := g.Dial(ctx, "call-registered", "registered:a1", number, rec.report)
	if err != nil {
		t.Fatalf("Dial registered:a1: %v", err)
	}
	if got := phone.answered(); got != 1 {
		t.Errorf("the registered phone answered %d calls, want 1", got)
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	rec.wantKinds(t, sip.AgentRinging, sip.AgentAnswered, sip.ContactRinging, sip.Connected, sip.Ended)

	if err := reg.Unregister(ctx); err != nil {
		t.Fatalf("Unregister: %v", err)
	}
	if c, ok := g.Registered("a1"); ok {
		t.Errorf("Registered(a1) = %q after unregistering", c)
	}
}

// TestRegisterRejected: wrong passwords and unknown users get the same
// challenge, nonces are counted, Expires is honoured and a source that keeps
// failing is refused.
func TestRegisterRejected(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "127.0.0.1:9", withAccounts)
	c := newRegisterClient(t, g.Addr())

	first := c.register(t, "a1", 60, "")
	if first.StatusCode != 401 {
		t.Fatalf("REGISTER without credentials: %d, want 401", first.StatusCode)
	}
	chal := challenges(first)
	if len(chal) != 1 || !strings.Contains(chal[0], "algorithm=MD5") || !strings.Contains(chal[0], `qop="auth"`) {
		t.Errorf("challenges %q, want MD5 alone (what every phone answers), qop auth", chal)
	}

	// A wrong password and an unknown user: the same 403, which ends the
	// attempt (a fresh 401 would have the phone retry at once).
	wrong := c.registerDigest(t, "a1", "not-the-password")
	unknown := c.registerDigest(t, "nobody", "whatever")
	for name, res := range map[string]*sipgosip.Response{"wrong password": wrong, "unknown user": unknown} {
		if res.StatusCode != 403 || len(challenges(res)) != 0 {
			t.Errorf("%s: %d %q, want 403 without a challenge", name, res.StatusCode, challenges(res))
		}
	}
	if wrong.Reason != unknown.Reason {
		t.Errorf("reasons differ: wrong password %q, unknown user %q", wrong.Reason, unknown.Reason)
	}

	// MD5, by hand: right password -> 200; the same nonce count again is a
	// replay (401 stale); the next count is fine.
	nonce := nonceOf(t, challenges(c.register(t, "a1", 60, ""))[0])
	if res := c.register(t, "a1", 60, c.md5Authorization("a1", accounts["a1"].Password, nonce, 1)); res.StatusCode != 200 {
		t.Fatalf("REGISTER with MD5 credentials: %d, want 200", res.StatusCode)
	}
	if contact, ok := g.Registered("a1"); !ok || contact != "sip:a1@"+c.contactAddr {
		t.Errorf("Registered(a1) = %q, %v; want sip:a1@%s", contact, ok, c.contactAddr)
	}
	replay := c.register(t, "a1", 60, c.md5Authorization("a1", accounts["a1"].Password, nonce, 1))
	if replay.StatusCode != 401 || !strings.Contains(strings.Join(challenges(replay), " "), "stale=true") {
		t.Errorf("replayed nonce count: %d %q, want 401 stale=true", replay.StatusCode, challenges(replay))
	}
	// Expires is honoured: one second, then nothing.
	if res := c.register(t, "a1", 1, c.md5Authorization("a1", accounts["a1"].Password, nonce, 2)); res.StatusCode != 200 {
		t.Fatalf("REGISTER with the next nonce count: %d, want 200", res.StatusCode)
	}
	waitUntil(t, "registration expired", func() bool { _, ok := g.Registered("a1"); return !ok })
	// Contact: * with Expires: 0 removes the binding (RFC 3261 10.2.2).
	if res := c.register(t, "a1", 60, c.md5Authorization("a1", accounts["a1"].Password, nonce, 3)); res.StatusCode != 200 {
		t.Fatalf("REGISTER again: %d, want 200", res.StatusCode)
	}
	req := c.newRequest("a1", 0)
	req.ReplaceHeader(sipgosip.NewHeader("Contact", "*"))
	req.AppendHeader(sipgosip.NewHeader("Authorization", c.md5Authorization("a1", accounts["a1"].Password, nonce, 4)))
	if res := c.do(t, req); res.StatusCode != 200 {
		t.Fatalf("REGISTER Contact: * Expires: 0: %d, want 200", res.StatusCode)
	}
	if contact, ok := g.Registered("a1"); ok {
		t.Errorf("Registered(a1) = %q after Contact: *", contact)
	}

	// One failure of a1 from here so far; four more lock it from here, the
	// right password included.
	for i := 0; i < 4; i++ {
		if res := c.registerDigest(t, "a1", "guess-"+strconv.Itoa(i)); res.StatusCode != 403 {
			t.Fatalf("wrong password: %d, want 403", res.StatusCode)
		}
	}
	if res := c.registerDigest(t, "a1", accounts["a1"].Password); res.StatusCode != 403 {
		t.Errorf("locked account and source, right password: %d, want 403", res.StatusCode)
	}
	if res := c.register(t, "a1", 60, ""); res.StatusCode != 403 {
		t.Errorf("locked account and source: %d, want 403 whatever it sends", res.StatusCode)
	}
}

// TestRegisterDigestAlgorithms: SHA-256 is challenged only for the accounts
// that say so, before MD5 (RFC 8760); a phone answers whichever it knows, and
// an account set to SHA-256 alone is not to be answered in MD5.
func TestRegisterDigestAlgorithms(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "127.0.0.1:9", withAccounts)
	c := newRegisterClient(t, g.Addr())

	for user, want := range map[string][]string{
		"a1": {"MD5"}, "nobody": {"MD5"}, "s1": {"SHA-256", "MD5"}, "s2": {"SHA-256"},
	} {
		chal := challenges(c.register(t, user, 60, ""))
		var got []string
		for _, ch := range chal {
			got = append(got, regexp.MustCompile(`algorithm=([A-Z0-9-]+)`).FindStringSubmatch(ch)[1])
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s challenged with %v, want %v", user, got, want)
		}
	}
	// sipgo answers the first challenge: SHA-256 for s1 and s2.
	for _, user := range []string{"s1", "s2"} {
		if res := c.registerDigest(t, user, accounts[user].Password); res.StatusCode != 200 {
			t.Errorf("%s with SHA-256: %d, want 200", user, res.StatusCode)
		}
	}
	// s1 also takes MD5 (a phone that skips the SHA-256 challenge); s2 does not.
	nonce := nonceOf(t, challenges(c.register(t, "s1", 60, ""))[0])
	if res := c.register(t, "s1", 60, c.md5Authorization("s1", "secret-s1", nonce, 1)); res.StatusCode != 200 {
		t.Errorf("s1 with MD5: %d, want 200", res.StatusCode)
	}
	nonce = nonceOf(t, challenges(c.register(t, "s2", 60, ""))[0])
	if res := c.register(t, "s2", 60, c.md5Authorization("s2", "secret-s2", nonce, 1)); res.StatusCode != 403 {
		t.Errorf("s2 (SHA-256 only) with MD5: %d, want 403", res.StatusCode)
	}
}

// registerClient sends REGISTERs with sipgo's client, as a phone at
// contactAddr would (it does not listen there: only the answers matter).
type registerClient struct {
	client      *sipgo.Client
	gw          sipgosip.Uri
	contactAddr string
}

func newRegisterClient(t *testing.T, gw string) *registerClient {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransactionLayerOptions(sipgosip.WithTransactionLayerLogger(quiet)),
		sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(quiet)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	host, port := splitHostPort(t, gw)
	return &registerClient{client: client, gw: sipgosip.Uri{Scheme: "sip", Host: host, Port: port}, contactAddr: "127.0.0.1:5999"}
}

func (c *registerClient) newRequest(user string, expires int) *sipgosip.Request {
	req := sipgosip.NewRequest(sipgosip.REGISTER, c.gw)
	aor := sipgosip.Uri{Scheme: "sip", User: user, Host: c.gw.Host, Port: c.gw.Port}
	from := &sipgosip.FromHeader{Address: aor, Params: sipgosip.NewParams()}
	from.Params.Add("tag", sipgosip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sipgosip.ToHeader{Address: aor, Params: sipgosip.NewParams()})
	req.AppendHeader(sipgosip.NewHeader("Contact", "<sip:"+user+"@"+c.contactAddr+">"))
	req.AppendHeader(sipgosip.NewHeader("Expires", strconv.Itoa(expires)))
	return req
}

// register sends one REGISTER with the given Authorization ("" for none).
func (c *registerClient) register(t *testing.T, user string, expires int, authorization string) *sipgosip.Response {
	t.Helper()
	req := c.newRequest(user, expires)
	if authorization != "" {
		req.AppendHeader(sipgosip.NewHeader("Authorization", authorization))
	}
	return c.do(t, req)
}

func (c *registerClient) do(t *testing.T, req *sipgosip.Request) *sipgosip.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	res, err := c.client.Do(ctx, req)
	if err != nil {
		t.Fatalf("REGISTER: %v", err)
	}
	return res
}

// registerDigest registers the way phones do: without credentials, then
// with sipgo's digest answer to the first challenge (SHA-256).
func (c *registerClient) registerDigest(t *testing.T, user, password string) *sipgosip.Response {
	t.Helper()
	req := c.newRequest(user, 60)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	res, err := c.client.Do(ctx, req)
	if err != nil {
		t.Fatalf("REGISTER: %v", err)
	}
	if res.StatusCode != 401 {
		return res
	}
	res, err = c.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: user, Password: password})
	if err != nil {
		t.Fatalf("REGISTER with credentials: %v", err)
	}
	return res
}

func (c *registerClient) md5Authorization(user, password, nonce string, nc int) string {
	h := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
	uri := c.gw.Addr()
	ncs := fmt.Sprintf("%08x", nc)
	ha1 := h(user + ":ringback:" + password)
	ha2 := h("REGISTER:" + uri)
	resp := h(ha1 + ":" + nonce + ":" + ncs + ":cn0nce:auth:" + ha2)
	return fmt.Sprintf(`Digest username="%s", realm="ringback", nonce="%s", uri="%s", algorithm=MD5, qop=auth, nc=%s, cnonce="cn0nce", response="%s"`,
		user, nonce, uri, ncs, resp)
}

func challenges(res *sipgosip.Response) []string {
	var out []string
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		out = append(out, h.Value())
	}
	return out
}

var noncePattern = regexp.MustCompile(`nonce="([^"]*)"`)

func nonceOf(t *testing.T, challenge string) string {
	t.Helper()
	m := noncePattern.FindStringSubmatch(challenge)
	if m == nil {
		t.Fatalf("no nonce in %q", challenge)
	}
	return m[1]
}

func splitHostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}
