package intake

import (
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/libs/servicetest"
)

// solve is the form's work, in Go.
func solve(challenge, number string, difficulty int) string {
	for n := 0; ; n++ {
		nonce := strconv.Itoa(n)
		if leadingZeroBits(sha256.Sum256([]byte(challenge+" "+number+" "+nonce))) >= difficulty {
			return challenge + " " + nonce
		}
	}
}

func getChallenge(t *testing.T, env *servicetest.Env, service string) challengeView {
	t.Helper()
	var c challengeView
	if res := env.Do("GET", "/v1/challenge?service="+service, nil, &c); res.StatusCode != http.StatusOK {
		t.Fatalf("challenge: %d", res.StatusCode)
	}
	return c
}

func TestProofOfWork(t *testing.T) {
	set, err := serviceconf.Parse([]byte("services:\n  support: {proof_of_work: 10}\n  sales: {}\n"), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	env := limited(t, Config{RefuseDuplicates: true, ServiceSet: set})
	base := env.Server.URL
	body := func(service, n string) map[string]any { return map[string]any{"service": service, "phone_number": n} }
	proof := func(p string) map[string]string { return map[string]string{ProofHeader: p} }

	c := getChallenge(t, env, "support")
	if c.Difficulty != 10 || c.Challenge == "" {
		t.Fatalf("challenge %+v", c)
	}
	if getChallenge(t, env, "sales").Difficulty != 0 {
		t.Fatal("sales asks for a proof")
	}
	good := solve(c.Challenge, "+14155550100", 10)
	challenge, nonce, _ := strings.Cut(good, " ")
	wrongNonce := challenge + " " + strconv.Itoa(mustAtoi(t, nonce)+1)
	for leadingZeroBits(sha256.Sum256([]byte(challenge+" +14155550100 "+strings.Fields(wrongNonce)[1]))) >= 10 {
		wrongNonce = challenge + " " + strconv.Itoa(mustAtoi(t, strings.Fields(wrongNonce)[1])+1)
	}
	tampered := strings.Replace(good, "v1.support.10.", "v1.support.1.", 1)
	for _, tc := range []struct {
		name   string
		body   map[string]any
		header map[string]string
		code   int
	}{
		{"missing", body("support", "+14155550100"), nil, http.StatusForbidden},
		{"garbage", body("support", "+14155550100"), proof("nonsense"), http.StatusForbidden},
		{"wrong nonce", body("support", "+14155550100"), proof(wrongNonce), http.StatusForbidden},
		{"tampered difficulty", body("support", "+14155550100"), proof(tampered), http.StatusForbidden},
		{"solved for another number", body("support", "+14155550101"), proof(good), http.StatusForbidden},
		{"valid", body("support", "+14155550100"), proof(good), http.StatusCreated},
		{"spent", body("support", "+14155550100"), proof(good), http.StatusForbidden},
		{"a service that asks none", body("sales", "+14155550102"), nil, http.StatusCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := create(t, base, tc.body, tc.header)
			if a.code != tc.code || (a.code == http.StatusForbidden && a.field != ProofHeader) {
				t.Fatalf("%+v, want %d", a, tc.code)
			}
		})
	}
	// Expired: solved in time, sent too late.
	c = getChallenge(t, env, "support")
	late := solve(c.Challenge, "+14155550103", 10)
	env.Clock.Advance(challengeTTL)
	if a := create(t, base, body("support", "+14155550103"), proof(late)); a.code != http.StatusForbidden {
		t.Fatalf("expired: %+v", a)
	}
	if _, why := verifyProof([]byte("k"), late, "support", "+14155550103", 10, env.Clock.Now().Add(-time.Minute)); why != errProofInvalid {
		t.Fatalf("signed with another key: %q", why)
	}
	if _, why := verifyProof([]byte("k"), issueChallenge([]byte("k"), "support", 0, env.Clock.Now().Add(time.Minute))+" 1", "sales", "+14155550103", 0, env.Clock.Now()); why != errProofInvalid {
		t.Fatalf("challenge of another service: %q", why)
	}
}

// Two replicas on one store: a challenge issued by one is verified by the
// other (the key is in the store, not in a replica's memory).
func TestProofOfWorkAcrossReplicas(t *testing.T) {
	set, err := serviceconf.Parse([]byte("services:\n  support: {proof_of_work: 8}\n"), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	a := limited(t, Config{ServiceSet: set})
	other := servicetest.New(t)
	if _, err := New(Config{ServiceSet: set}, Deps{Deps: service.Deps{Store: a.Store, Subscribers: other.Subscribers(), Clock: a.Clock, Log: a.Log, Metrics: other.Registry, Mux: other.Mux}}); err != nil {
		t.Fatal(err)
	}
	c := getChallenge(t, a, "support")
	if r := create(t, other.Server.URL, map[string]any{"service": "support", "phone_number": "+14155550100"},
		map[string]string{ProofHeader: solve(c.Challenge, "+14155550100", 8)}); r.code != http.StatusCreated {
		t.Fatalf("other replica: %+v", r)
	}
}

// The browser's solver (pow.js) finds what the server accepts: run with
// Node, which the form's browser tests do not need.
func TestPowJSSolves(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	key := []byte("key")
	c := issueChallenge(key, "support", 12, time.Now().Add(time.Minute))
	script := `const vm = require("vm"); const fs = require("fs"); const ctx = {}; vm.createContext(ctx);
vm.runInContext(fs.readFileSync("pow.js", "utf8"), ctx);
process.stdout.write(JSON.stringify([ctx.ringbackSolve(process.argv[1] + " +14155550100 ", 12),
  Array.from(ctx.ringbackSha256("abc")).map(x => (x >>> 0).toString(16).padStart(8, "0")).join("")]));`
	out, err := exec.Command(node, "-e", script, c).Output()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if got[1] != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("sha256(abc) = %s", got[1])
	}
	if _, why := verifyProof(key, c+" "+got[0], "support", "+14155550100", 12, time.Now()); why != "" {
		t.Fatalf("nonce %s: %s", got[0], why)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A GMS site's anonymous create is asked the same proof: refused without
// it, naming the header, and accepted with it (the site's page gets it
// with pow.js, as the form does).
func TestProofOfWorkOnTheGMSEndpoint(t *testing.T) {
	set, err := serviceconf.Parse([]byte("services:\n  support: {proof_of_work: 8}\n"), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	env := limited(t, Config{RefuseDuplicates: true, ServiceSet: set})
	post := func(number, proof string) (int, string) {
		req, _ := http.NewRequest("POST", env.Server.URL+"/genesys/1/service/callback/support",
			strings.NewReader("_customer_number="+url.QueryEscape(number)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if proof != "" {
			req.Header.Set(ProofHeader, proof)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body struct{ Field string }
		_ = json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body.Field
	}
	if code, field := post("+14155550110", ""); code != http.StatusForbidden || field != ProofHeader {
		t.Fatalf("without a proof: %d naming %q, want 403 naming %s", code, field, ProofHeader)
	}
	c := getChallenge(t, env, "support")
	if code, _ := post("+14155550110", solve(c.Challenge, "+14155550110", c.Difficulty)); code != http.StatusOK {
		t.Fatalf("with a proof: %d, want 200", code)
	}
}
