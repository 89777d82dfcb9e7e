package agentauth_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/agentauth"
)

func load(t testing.TB, doc string) (*agentauth.Directory, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agents.json")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return agentauth.Load(path)
}

// TestLoadRefuses: an agents file that would name two principals with one
// id or one credential, or a client without a scope, is refused at start.
func TestLoadRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, doc, want string }{
		{"two ids", `{"agents":[{"id":"a1","token":"t1"}],"operators":[{"id":"a1","token":"t2"}]}`, "id used twice"},
		{"one token twice", `{"agents":[{"id":"a1","token":"t1"}],"clients":[{"id":"c1","key":"t1","services":["*"]}]}`, "another's too"},
		{"client without services", `{"clients":[{"id":"c1","key":"k1"}]}`, "services is required"},
		{"operator without token", `{"operators":[{"id":"o1"}]}`, "no token"},
		{"bad hash", `{"clients":[{"id":"c1","key_sha256":"abc","services":["*"]}]}`, "not a hex SHA-256"},
		{"short session key", `{"session_key_file":"` + shortKey(t) + `"}`, "at least 32 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := load(t, tc.doc); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func shortKey(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte("too short"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func keyFile(t testing.TB) string {
	path := filepath.Join(t.TempDir(), "session.key")
	if err := os.WriteFile(path, []byte(strings.Repeat("k", 48)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSession: a session cookie names its agent until it expires; a
// forged one, another site's, or an operator's is refused.
func TestSession(t *testing.T) {
	t.Parallel()
	dir, err := load(t, `{"session_key_file":"`+keyFile(t)+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	other, err := load(t, `{"session_key_file":"`+filepath.Join(t.TempDir(), "x")+`"}`)
	if err == nil {
		t.Fatalf("a missing key file loaded: %v", other)
	}
	p := agentauth.Principal{ID: "a1", Roles: agentauth.RoleAgent | agentauth.RoleSupervisor, Services: []string{"support"}}
	v, err := dir.IssueSession(p, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	got, err := dir.SessionPrincipal(v)
	if err != nil || got.ID != "a1" || !got.Covers("support") || got.Covers("billing") {
		t.Fatalf("session %+v %v", got, err)
	}
	if _, err := dir.SessionPrincipal(v[:len(v)-2] + "AA"); err == nil {
		t.Fatal("a forged signature was accepted")
	}
	old, _ := dir.IssueSession(p, time.Now().Add(-time.Second))
	if _, err := dir.SessionPrincipal(old); err == nil {
		t.Fatal("an expired session was accepted")
	}
	if _, err := dir.IssueSession(agentauth.Principal{ID: "ops", Roles: agentauth.RoleOperator}, time.Now().Add(time.Minute)); err == nil {
		t.Fatal("an operator got a session")
	}

	// Through a route: the cookie authenticates, an expired one is a 401.
	mux := http.NewServeMux()
	agentauth.Register(mux, slog.New(slog.NewTextHandler(io.Discard, nil)), dir, []agentauth.Route{{Pattern: "/me",
		Roles: agentauth.RoleAgent, Handle: func(w http.ResponseWriter, r *http.Request) error {
			_, _ = io.WriteString(w, agentauth.Agent(r.Context()))
			return nil
		}}})
	for _, tc := range []struct {
		method, cookie, site string
		status               int
	}{
		{"GET", v, "", 200},
		{"GET", old, "", 401}, // expired: a visitor
		{"GET", "garbage", "", 401},
		{"POST", v, "same-origin", 200},
		{"POST", v, "same-site", 403}, // a sibling subdomain's page
		{"POST", v, "cross-site", 403},
	} {
		req := httptest.NewRequest(tc.method, "/me", nil)
		req.AddCookie(&http.Cookie{Name: agentauth.SessionCookie, Value: tc.cookie})
		if tc.site != "" {
			req.Header.Set("Sec-Fetch-Site", tc.site)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Fatalf("%s, cookie %.10s…, %s: %d %s, want %d", tc.method, tc.cookie, tc.site, rec.Code, rec.Body, tc.status)
		}
	}
}

// BenchmarkAuthorize is the cost of the authorisation check per request:
// a bearer token among 1,000 agents, the role check and the principal in
// the context (the route's Entitle, a read of the resource, not included).
func BenchmarkAuthorize(b *testing.B) {
	var agents []string
	for i := range 1000 {
		agents = append(agents, fmt.Sprintf(`{"id":"a%d","token":"token-%d"}`, i, i))
	}
	dir, err := load(b, `{"agents":[`+strings.Join(agents, ",")+`]}`)
	if err != nil {
		b.Fatal(err)
	}
	rt := agentauth.Route{Pattern: "GET /v1/queues", Roles: agentauth.RoleAgent | agentauth.RoleSupervisor}
	req := httptest.NewRequest("GET", "/v1/queues", nil)
	req.Header.Set("Authorization", "Bearer token-500")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		if p, err := dir.Authorize(w, req, rt); err != nil || p.ID != "a500" {
			b.Fatal(p, err)
		}
	}
	fmt.Printf("\nauthorisation: a bearer token among 1,000 agents %.0f ns/request\n", float64(b.Elapsed().Nanoseconds())/float64(b.N))
}

// BenchmarkAuthorizeSession is the same check for a single sign-on
// session cookie (an HMAC and a JSON decode instead of a hash lookup).
func BenchmarkAuthorizeSession(b *testing.B) {
	dir, err := load(b, `{"session_key_file":"`+keyFile(b)+`"}`)
	if err != nil {
		b.Fatal(err)
	}
	v, err := dir.IssueSession(agentauth.Principal{ID: "a1", Roles: agentauth.RoleAgent}, time.Now().Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	rt := agentauth.Route{Pattern: "GET /v1/queues", Roles: agentauth.RoleAgent}
	req := httptest.NewRequest("GET", "/v1/queues", nil)
	req.AddCookie(&http.Cookie{Name: agentauth.SessionCookie, Value: v})
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		if p, err := dir.Authorize(w, req, rt); err != nil || p.ID != "a1" {
			b.Fatal(p, err)
		}
	}
	fmt.Printf("\nauthorisation: a single sign-on session cookie %.0f ns/request\n", float64(b.Elapsed().Nanoseconds())/float64(b.N))
}
