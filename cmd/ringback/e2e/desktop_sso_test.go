package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ringback/ringback/libs/oidctest"
)

// TestDesktopSignInWithOIDC (issue 16): the desktop offers "Sign in with
// <provider>"; headless Chromium follows it to the test identity provider,
// which approves its user at once, comes back signed in (an HttpOnly cookie
// no script reads), and logs in to the Workspace as the agent the ID
// token's claims name, without a token.
func TestDesktopSignInWithOIDC(t *testing.T) {
	desktopNeedChromium(t)
	idp := oidctest.Start(t, "ringback", "test-client-secret")
	idp.SetUser(map[string]any{"sub": "u-42", "preferred_username": "sso-agent", "groups": []string{"cc-agents"}})

	// One origin for the browser, known before ringback starts, since the
	// provider is told where to send the browser back.
	var target atomic.Pointer[url.URL]
	front := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target.Load())
			r.Out.Host = r.In.Host
		},
		FlushInterval: -1, // the event stream
	})
	t.Cleanup(func() {
		front.CloseClientConnections()
		front.Close()
	})

	dir := t.TempDir()
	key := filepath.Join(dir, "session.key")
	agents := filepath.Join(dir, "agents.json")
	if err := os.WriteFile(key, []byte(strings.Repeat("0123456789", 5)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(agents, []byte(`{"agents":[{"id":"a1","token":"a1-token"}],"session_key_file":"`+key+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, "ringback", "--data", t.TempDir(), "--sip", freePort(t, "udp"), "--agents", agents,
		"--media.trunk-keepalive", "0",
		"--oidc.issuer", idp.URL, "--oidc.client-id", "ringback", "--oidc.client-secret", "test-client-secret",
		"--oidc.redirect-url", front.URL+"/auth/oidc/callback", "--oidc.roles", "cc-agents=agent,cc-leads=supervisor",
		"--oidc.provider-name", "Test IdP")
	u, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	target.Store(u)

	b := startDesktopBrowser(t)
	tab := b.tab(t, "sso-agent")
	tab.do(t, "open the desktop", chromedp.Navigate(front.URL+"/agent/"))
	tab.waitJS(t, "the Sign in with Test IdP link", `!document.querySelector('#sso').hidden &&
		document.querySelector('#sso-login').textContent.trim() === 'Sign in with Test IdP'`)
	tab.do(t, "sign in with the provider", chromedp.Click(chromedp.CSS("#sso-login")))
	ssoWait(t, tab, "back from the provider, signed in as sso-agent", `location.pathname === '/agent/' &&
		document.querySelector('#login-agent').value === 'sso-agent' &&
		document.querySelector('#login-agent').readOnly && document.querySelector('#login-token-label').hidden`)
	if q := idp.LastQuery("authorize"); q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Fatalf("the desktop's sign-in lacks PKCE, state or nonce: %v", q)
	}
	if c := desktopEval[string](t, tab, `document.cookie`); strings.Contains(c, "ringback_session") {
		t.Fatalf("the session cookie is readable by scripts: %q", c)
	}
	tab.pressNamed(t, "#login", "Log in")
	tab.waitJS(t, "the Workspace, Not Ready", `!document.querySelector('#me').hidden &&
		document.querySelector('#me-id').textContent === 'sso-agent' &&
		document.querySelector('#channel-state').textContent === 'Not Ready'`)
	tab.noExceptions(t)

	// The session is the agent's own: another agent's routes refuse it.
	res, err := http.Get(front.URL + "/v1/agents/a1")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the browser's cookie, GET /v1/agents/a1: %d", res.StatusCode)
	}

	// The agent logs out (the single sign-on session too). A supervisor
	// signs in on the supervisor's page with the same provider, comes back
	// to that page, and sees the board as themselves.
	tab.pressNamed(t, "#me", "Log out")
	tab.waitJS(t, "logged out, the sign-in offered again", `!document.querySelector('#login').hidden && !document.querySelector('#sso').hidden`)
	idp.SetUser(map[string]any{"sub": "u-7", "preferred_username": "sso-lead", "groups": []string{"cc-leads"}})
	tab.do(t, "open the supervisor's page", chromedp.Navigate(front.URL+"/supervisor/"))
	tab.waitJS(t, "its Sign in with Test IdP link", `!document.querySelector('#sso').hidden &&
		document.querySelector('#sso-login').textContent.trim() === 'Sign in with Test IdP'`)
	pageAxe(t, tab, "the supervisor's sign-in, with single sign-on")
	tab.do(t, "sign in with the provider", chromedp.Click(chromedp.CSS("#sso-login")))
	ssoWait(t, tab, "back on the supervisor's page, on the board as sso-lead", `location.pathname === '/supervisor/' &&
		!document.querySelector('#board').hidden && document.querySelector('#me-id').textContent === 'sso-lead'`)
	tab.noExceptions(t)
}

// ssoWait is waitJS across navigations: while the browser goes to the
// provider and back, the page it evaluates in is replaced, which ends a
// plain poll with "cannot find context".
func ssoWait(t *testing.T, tab *desktopTab, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(desktopWait)
	for {
		ctx, cancel := context.WithTimeout(tab.ctx, time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("Boolean("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			tab.fatal(t, "waiting for %s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
