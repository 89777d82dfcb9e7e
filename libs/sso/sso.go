package sso

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/httpx"
)

// loginCookie carries a sign-in's state, nonce and PKCE verifier from the
// redirect to the provider to its callback, sealed with the site's session
// key: any replica of the site can finish a sign-in another started.
// SameSite=Lax, since the provider's redirect back is a cross-site
// navigation, which a Strict cookie would not follow.
const loginCookie = "ringback_oidc_login"

// loginWindow is how long a user has at the provider to sign in.
const loginWindow = 10 * time.Minute

// Login is the single sign-on of one site: its routes and what they need.
// Safe for concurrent use.
type Login struct {
	cfg     Config
	dir     *agentauth.Directory
	log     *slog.Logger
	home    string   // where a signed-in browser is sent: the desktop
	returns []string // the other pages it may ask to come back to
	http    *http.Client

	mu       sync.Mutex // guards the provider, discovered at the first sign-in
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// New is the single sign-on of cfg (validated), issuing sessions of dir,
// which must have a session key; home is where a signed-in browser goes.
// The provider is discovered at the first sign-in, so that ringback starts
// while its identity provider is down (token users still work).
func New(cfg Config, dir *agentauth.Directory, home string, log *slog.Logger) (*Login, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, err := dir.Seal("probe", nil); err != nil {
		return nil, fmt.Errorf("single sign-on: %w (the agents file must name a session_key_file)", err)
	}
	return &Login{cfg: cfg, dir: dir, log: log, home: home, http: &http.Client{Timeout: 10 * time.Second}}, nil
}

// Routes are the sign-in routes, rows of the caller's route table.
func (l *Login) Routes() []agentauth.Route {
	return []agentauth.Route{
		{Pattern: "GET /auth/oidc", Roles: agentauth.Everyone, Handle: l.describe},
		{Pattern: "GET /auth/oidc/login", Roles: agentauth.Everyone, Handle: l.login},
		{Pattern: "GET /auth/oidc/callback", Roles: agentauth.Everyone, Handle: l.callback},
		{Pattern: "POST /auth/logout", Roles: agentauth.Everyone, Handle: l.logout},
		// Who the browser's session is: the desktop, which cannot read its
		// HttpOnly cookie, learns the agent id it signed in as.
		{Pattern: "GET /auth/session", Roles: agentauth.RoleAgent | agentauth.RoleSupervisor, Handle: whoami},
	}
}

func whoami(w http.ResponseWriter, r *http.Request) error {
	p := agentauth.Who(r.Context())
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"agent": p.ID, "roles": p.Roles.Names()})
	return nil
}

// provider discovers the issuer once; a failure is retried at the next
// sign-in.
func (l *Login) provider(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.oauth != nil {
		return l.oauth, l.verifier, nil
	}
	// The key set go-oidc keeps fetches with this client, not this
	// request's context, which ends with the request.
	ctx = oidc.ClientContext(context.WithoutCancel(ctx), l.http)
	p, err := oidc.NewProvider(ctx, l.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("discover %s: %w", l.cfg.Issuer, err)
	}
	l.oauth = &oauth2.Config{ClientID: l.cfg.ClientID, ClientSecret: l.cfg.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: l.cfg.RedirectURL, Scopes: l.cfg.scopes()}
	// The verifier checks the signature against the provider's keys, the
	// issuer, the audience (our client id) and the expiry.
	l.verifier = p.Verifier(&oidc.Config{ClientID: l.cfg.ClientID})
	return l.oauth, l.verifier, nil
}

// describe tells the desktop whether to offer "Sign in with …", and, if
// the browser is signed in, as whom: one request, which never fails, since
// the page cannot read its HttpOnly cookie.
func (l *Login) describe(w http.ResponseWriter, r *http.Request) error {
	v := map[string]string{"provider": l.cfg.ProviderName, "login": "/auth/oidc/login"}
	if p := agentauth.Who(r.Context()); p.Has(agentauth.RoleAgent) {
		v["agent"] = p.ID
	}
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}

// loginState is what the login cookie seals.
type loginState struct {
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	Expires  int64  `json:"exp"`
	// Return is the page the sign-in was started from, when it was not
	// home: one of the pages allowed by Returns.
	Return string `json:"return,omitempty"`
}

// Returns names the site's other pages a sign-in may come back to (?return=
// on /auth/oidc/login), beside home: the supervisor's page. Only these, so
// that the login is not an open redirect.
func (l *Login) Returns(pages ...string) *Login {
	l.returns = append(l.returns, pages...)
	return l
}

// login starts the authorization code flow (RFC 6749 4.1) with PKCE (RFC
// 7636, S256), a state bound to this browser by the login cookie (CSRF),
// and a nonce the ID token must carry (replay).
func (l *Login) login(w http.ResponseWriter, r *http.Request) error {
	conf, _, err := l.provider(r.Context())
	if err != nil {
		l.log.Warn("single sign-on: the identity provider does not answer", "err", err)
		return httpx.Unavailable("the identity provider cannot be reached; try again, or sign in with a token")
	}
	ret := r.URL.Query().Get("return")
	if ret != "" && ret != l.home && !slices.Contains(l.returns, ret) {
		return httpx.BadField("return", "must be one of this site's pages: "+strings.Join(append([]string{l.home}, l.returns...), ", "))
	}
	st := loginState{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier(),
		Expires: time.Now().Add(loginWindow).Unix(), Return: ret}
	body, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("login state: %w", err)
	}
	sealed, err := l.dir.Seal("oidc-login", body)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: sealed, Path: "/auth/oidc/", MaxAge: int(loginWindow.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secure(r)})
	http.Redirect(w, r, conf.AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)), http.StatusFound)
	return nil
}

// callback finishes a sign-in: the state must be this browser's, the code
// is redeemed with the PKCE verifier, the ID token verified and its nonce
// checked, and its claims mapped to an agent and roles. Every refusal is a
// problem naming what was wrong, and no session is given.
func (l *Login) callback(w http.ResponseWriter, r *http.Request) error {
	st, err := l.started(r)
	// The login cookie is good for one callback, whatever its outcome.
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/auth/oidc/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: secure(r)})
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return refuse(http.StatusUnauthorized, "error", "the identity provider refused the sign-in ("+safe(e)+")")
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 {
		return refuse(http.StatusBadRequest, "state", "is not the state of the sign-in this browser started: sign in again")
	}
	if q.Get("code") == "" {
		return refuse(http.StatusBadRequest, "code", "is required")
	}
	conf, verifier, err := l.provider(r.Context())
	if err != nil {
		l.log.Warn("single sign-on: the identity provider does not answer", "err", err)
		return httpx.Unavailable("the identity provider cannot be reached; try again")
	}
	ctx := oidc.ClientContext(r.Context(), l.http)
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		l.log.Info("single sign-on: code not redeemed", "err", err)
		return refuse(http.StatusUnauthorized, "code", "the identity provider did not redeem the code: sign in again")
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return refuse(http.StatusUnauthorized, "id_token", "the identity provider sent no ID token")
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		l.log.Info("single sign-on: ID token refused", "err", err)
		return refuse(http.StatusUnauthorized, "id_token", "the ID token is not valid: "+reason(err))
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		return refuse(http.StatusUnauthorized, "nonce", "the ID token was not issued for this sign-in (its nonce differs)")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return refuse(http.StatusUnauthorized, "id_token", "the ID token's claims cannot be read")
	}
	p, err := l.cfg.principal(claims)
	if err != nil {
		return err
	}
	expires := time.Now().Add(l.cfg.SessionTTL)
	session, err := l.dir.IssueSession(p, expires)
	if err != nil {
		return err
	}
	agentauth.SetSessionCookie(w, r, session, expires)
	l.log.Info("signed in with single sign-on", "agent", p.ID, "roles", p.Roles.String())
	to := l.home
	if st.Return != "" {
		to = st.Return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// started is the sign-in this browser started, from its login cookie.
func (l *Login) started(r *http.Request) (loginState, error) {
	c, err := r.Cookie(loginCookie)
	if err != nil {
		return loginState{}, refuse(http.StatusBadRequest, "state", "no sign-in was started in this browser: sign in again")
	}
	body, err := l.dir.Unseal("oidc-login", c.Value)
	var st loginState
	if err == nil {
		err = json.Unmarshal(body, &st)
	}
	if err != nil {
		return loginState{}, refuse(http.StatusBadRequest, "state", "the sign-in's cookie is not valid: sign in again")
	}
	if time.Now().Unix() > st.Expires {
		return loginState{}, refuse(http.StatusBadRequest, "state", "the sign-in took over 10 minutes: sign in again")
	}
	return st, nil
}

func (l *Login) logout(w http.ResponseWriter, r *http.Request) error {
	agentauth.ClearSessionCookie(w, r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// principal maps an ID token's claims to who signs in: the agent id of
// AgentClaim, the roles the values of RolesClaim map to (none: refused),
// and a supervisor's services.
func (c *Config) principal(claims map[string]any) (agentauth.Principal, error) {
	id, _ := claims[c.AgentClaim].(string)
	if !agentauth.ValidID(id) {
		return agentauth.Principal{}, refuse(http.StatusForbidden, c.AgentClaim,
			"the ID token has no agent id in this claim (1 to 64 letters, digits, dots, dashes or underscores)")
	}
	var roles agentauth.Role
	for _, v := range claimStrings(claims[c.RolesClaim]) {
		roles |= c.roles[v]
	}
	if roles == 0 {
		return agentauth.Principal{}, refuse(http.StatusForbidden, c.RolesClaim,
			"no ringback role is mapped from this claim of the ID token; ask for one of the groups in --oidc.roles")
	}
	p := agentauth.Principal{ID: id, Roles: roles}
	if roles&agentauth.RoleSupervisor != 0 && c.ServicesClaim != "" {
		p.Services = claimStrings(claims[c.ServicesClaim])
		if len(p.Services) == 0 {
			p.Services = nil // every service, as a supervisor of the agents file without "services"
		}
	}
	return p, nil
}

// claimStrings is a claim that is a string or a list of strings.
func claimStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func refuse(status int, field, detail string) error {
	var p *httpx.Problem
	switch status {
	case http.StatusUnauthorized:
		p = httpx.Unauthorized(detail)
	case http.StatusForbidden:
		p = httpx.Forbidden(detail)
	default:
		p = httpx.BadField(field, detail)
	}
	p.Field = field
	return p
}

// reason is why go-oidc refused a token, in words a user can pass on.
func reason(err error) string {
	var expired *oidc.TokenExpiredError
	switch {
	case errors.As(err, &expired):
		return "it has expired"
	case strings.Contains(err.Error(), "audience"):
		return "it was issued for another client (audience)"
	case strings.Contains(err.Error(), "issuer"):
		return "it was issued by another issuer"
	case strings.Contains(err.Error(), "signature"):
		return "its signature does not verify"
	}
	return "it cannot be verified"
}

// safe keeps an error code of the provider to its RFC 6749 alphabet, so
// nothing it sends is rendered as is.
func safe(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s) && i < 64; i++ {
		if c := s[i]; c == '_' || (c >= 'a' && c <= 'z') {
			out = append(out, c)
		}
	}
	return string(out)
}

func secure(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}
