package sso_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/oidctest"
	"github.com/ringback/ringback/libs/sso"
)

// site is ringback's side of a sign-in: the login routes and a route for
// agents, behind a directory with a session key.
type site struct {
	url string
	dir *agentauth.Directory
	idp *oidctest.Provider
}

func startSite(t *testing.T) site {
	t.Helper()
	tmp := t.TempDir()
	key := filepath.Join(tmp, "session.key")
	agents := filepath.Join(tmp, "agents.json")
	if err := os.WriteFile(key, []byte(strings.Repeat("s", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(agents, []byte(`{"agents":[],"session_key_file":"`+key+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	dir, err := agentauth.Load(agents)
	if err != nil {
		t.Fatal(err)
	}
	idp := oidctest.Start(t, "ringback", "client-secret")
	idp.SetUser(map[string]any{"sub": "u-1", "preferred_username": "agent7", "groups": []string{"cc-agents"}})
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg := sso.Config{Issuer: idp.URL, ClientID: "ringback", ClientSecret: "client-secret",
		RedirectURL: srv.URL + "/auth/oidc/callback", ProviderName: "Test IdP", AgentClaim: "preferred_username",
		RolesClaim: "groups", Roles: "cc-agents=agent,cc-leads=supervisor", ServicesClaim: "services",
		SessionTTL: time.Hour, Scopes: "openid,profile"}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	login, err := sso.New(cfg, dir, "/agent/", log)
	if err != nil {
		t.Fatal(err)
	}
	login.Returns("/supervisor/")
	agentauth.Register(mux, log, dir, append(login.Routes(), agentauth.Route{Pattern: "GET /me",
		Roles: agentauth.RoleAgent | agentauth.RoleSupervisor, Handle: func(w http.ResponseWriter, r *http.Request) error {
			p := agentauth.Who(r.Context())
			_ = json.NewEncoder(w).Encode(map[string]any{"id": p.ID, "roles": p.Roles.Names(), "services": p.Services})
			return nil
		}}))
	return site{url: srv.URL, dir: dir, idp: idp}
}

// browser follows redirects with a cookie jar, as a browser does, and
// stops at the desktop.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Path == "/agent/" || req.URL.Path == "/supervisor/" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

type problem struct {
	Status int    `json:"status"`
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, problem) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var p problem
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
		_ = json.NewDecoder(res.Body).Decode(&p)
	}
	return res, p
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	s := startSite(t)
	c := browser(t)
	res, p := get(t, c, s.url+"/auth/oidc/login")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/agent/" {
		t.Fatalf("sign-in: %d %+v", res.StatusCode, p)
	}
	q := s.idp.LastQuery("authorize")
	if q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Fatalf("the authorize request lacks PKCE, nonce or state: %v", q)
	}
	var session *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == agentauth.SessionCookie {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.MaxAge <= 0 || session.MaxAge > 3600 {
		t.Fatalf("session cookie %+v", session)
	}
	var me struct {
		ID    string
		Roles []string
	}
	res, err := c.Get(s.url + "/me")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(&me); err != nil || me.ID != "agent7" || len(me.Roles) != 1 || me.Roles[0] != "agent" {
		t.Fatalf("signed in as %+v (%v)", me, err)
	}
	// A second callback with the same code and state is refused: the login
	// cookie was for one callback.
	replay := s.url + "/auth/oidc/callback?code=x&state=" + url.QueryEscape(q.Get("state"))
	if res, p := get(t, c, replay); res.StatusCode != 400 || p.Field != "state" {
		t.Fatalf("replayed callback: %d %+v", res.StatusCode, p)
	}
}

func TestSignInRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		setup  func(s site)
		state  string // replaces the state sent back, if set
		status int
		field  string
		detail string
	}{
		{name: "bad state", state: "forged", status: 400, field: "state", detail: "not the state"},
		{name: "bad nonce", setup: func(s site) { s.idp.Tamper(func(c map[string]any) { c["nonce"] = "another" }) },
			status: 401, field: "nonce", detail: "nonce differs"},
		{name: "expired token", setup: func(s site) {
			s.idp.Tamper(func(c map[string]any) {
				c["iat"], c["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
			})
		}, status: 401, field: "id_token", detail: "expired"},
		{name: "wrong audience", setup: func(s site) { s.idp.Tamper(func(c map[string]any) { c["aud"] = "another-client" }) },
			status: 401, field: "id_token", detail: "audience"},
		{name: "unmapped role", setup: func(s site) {
			s.idp.SetUser(map[string]any{"sub": "u-2", "preferred_username": "agent8", "groups": []string{"staff"}})
		}, status: 403, field: "groups", detail: "no ringback role"},
		{name: "no agent id", setup: func(s site) { s.idp.SetUser(map[string]any{"sub": "u-3", "groups": "cc-agents"}) },
			status: 403, field: "preferred_username", detail: "no agent id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startSite(t)
			if tc.setup != nil {
				tc.setup(s)
			}
			c := browser(t)
			next := c.CheckRedirect
			c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
				if tc.state != "" && req.URL.Path == "/auth/oidc/callback" {
					q := req.URL.Query()
					q.Set("state", tc.state)
					req.URL.RawQuery = q.Encode()
				}
				return next(req, via)
			}
			res, p := get(t, c, s.url+"/auth/oidc/login")
			if res.StatusCode != tc.status || p.Field != tc.field || !strings.Contains(p.Detail, tc.detail) {
				t.Fatalf("%d %+v, want %d naming %s, saying %q", res.StatusCode, p, tc.status, tc.field, tc.detail)
			}
			for _, ck := range res.Cookies() {
				if ck.Name == agentauth.SessionCookie && ck.Value != "" {
					t.Fatal("refused, yet a session cookie was set")
				}
			}
			if res, _ := get(t, c, s.url+"/me"); res.StatusCode != 401 {
				t.Fatalf("refused, yet /me answers %d", res.StatusCode)
			}
		})
	}
}

// TestSignInComesBackToItsPage: a sign-in started from the supervisor's
// page comes back to it; a page that is not the site's is refused before
// anything starts (no open redirect).
func TestSignInComesBackToItsPage(t *testing.T) {
	t.Parallel()
	s := startSite(t)
	res, p := get(t, browser(t), s.url+"/auth/oidc/login?return=/supervisor/")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/supervisor/" {
		t.Fatalf("sign-in from the supervisor's page: %d %q %+v", res.StatusCode, res.Header.Get("Location"), p)
	}
	for _, ret := range []string{"https://elsewhere.example/", "//elsewhere.example/supervisor/", "/supervisor/../admin", "/agent"} {
		res, p := get(t, browser(t), s.url+"/auth/oidc/login?return="+url.QueryEscape(ret))
		if res.StatusCode != 400 || p.Field != "return" {
			t.Errorf("return %q: %d %+v, want 400 naming return", ret, res.StatusCode, p)
		}
	}
}

// TestSignInWithoutStarting: a callback in a browser that started no
// sign-in (a forged link) is refused naming the state.
func TestSignInWithoutStarting(t *testing.T) {
	t.Parallel()
	s := startSite(t)
	if res, p := get(t, browser(t), s.url+"/auth/oidc/callback?code=c&state=s"); res.StatusCode != 400 || p.Field != "state" {
		t.Fatalf("%d %+v", res.StatusCode, p)
	}
}

// TestSupervisorServices: a supervisor's services come from the services
// claim.
func TestSupervisorServices(t *testing.T) {
	t.Parallel()
	s := startSite(t)
	s.idp.SetUser(map[string]any{"sub": "u-4", "preferred_username": "lead1", "groups": []string{"cc-leads"},
		"services": []string{"billing"}})
	c := browser(t)
	if res, p := get(t, c, s.url+"/auth/oidc/login"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("%d %+v", res.StatusCode, p)
	}
	res, err := c.Get(s.url + "/me")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var me struct {
		Roles    []string
		Services []string
	}
	_ = json.NewDecoder(res.Body).Decode(&me)
	if len(me.Roles) != 2 || len(me.Services) != 1 || me.Services[0] != "billing" {
		t.Fatalf("supervisor %+v", me)
	}
}
