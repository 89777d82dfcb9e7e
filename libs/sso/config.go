// Package sso signs agents and supervisors in with OpenID Connect (issue
// 16): the desktop's "Sign in with <provider>" redirects to the identity
// provider (authorization code flow with PKCE, state and nonce), the
// callback verifies the ID token (github.com/coreos/go-oidc/v3), maps its
// claims to an agent id and roles as configured, and gives the browser a
// short-lived session cookie that agentauth accepts on every route. It owns
// the login routes only; who may call what stays in agentauth's route
// tables. It must not import a service.
package sso

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ringback/ringback/libs/agentauth"
)

// Config is the identity provider and how its claims map to ringback. Every
// flag is also read from the environment (RINGBACK_OIDC_ISSUER, …); give
// the client secret that way, not on a command line others can read.
type Config struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is this site's callback as the provider knows it:
	// https://ringback.example.com/auth/oidc/callback.
	RedirectURL  string
	ProviderName string // shown as "Sign in with <ProviderName>"
	AgentClaim   string // the claim whose value is the agent id
	RolesClaim   string // a claim with a string or a list of strings
	// Roles maps values of RolesClaim to ringback roles:
	// "ringback-agents=agent,ringback-supervisors=supervisor".
	Roles         string
	ServicesClaim string // a supervisor's services; absent or empty: every service
	SessionTTL    time.Duration
	Scopes        string

	roles map[string]agentauth.Role
}

// RegisterFlags registers the --oidc.… flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Issuer, "oidc.issuer", "", "OpenID Connect issuer URL of the identity provider agents sign in with (its /.well-known/openid-configuration is read at the first sign-in); empty: no single sign-on, tokens of the agents file only")
	fs.StringVar(&c.ClientID, "oidc.client-id", "", "client id of ringback at the identity provider")
	fs.StringVar(&c.ClientSecret, "oidc.client-secret", "", "client secret of ringback at the identity provider; give it as RINGBACK_OIDC_CLIENT_SECRET")
	fs.StringVar(&c.RedirectURL, "oidc.redirect-url", "", "this site's callback as registered at the provider, https://<host>/auth/oidc/callback")
	fs.StringVar(&c.ProviderName, "oidc.provider-name", "your organisation", "name on the desktop's \"Sign in with …\" button")
	fs.StringVar(&c.AgentClaim, "oidc.agent-claim", "preferred_username", "ID token claim whose value is the agent id (as in the agents file, for skills and auto-answer)")
	fs.StringVar(&c.RolesClaim, "oidc.roles-claim", "groups", "ID token claim (a string or a list) whose values --oidc.roles maps to roles")
	fs.StringVar(&c.Roles, "oidc.roles", "", "comma list of claim-value=role, role agent or supervisor: ringback-agents=agent,ringback-supervisors=supervisor; a user with no mapped role is refused")
	fs.StringVar(&c.ServicesClaim, "oidc.services-claim", "", "ID token claim listing a supervisor's services; empty or absent from the token: every service")
	fs.DurationVar(&c.SessionTTL, "oidc.session-ttl", time.Hour, "life of a desktop session after sign-in; short, since a signed cookie cannot be revoked before it ends (sign in again after)")
	fs.StringVar(&c.Scopes, "oidc.scopes", "openid,profile", "comma list of scopes asked for (openid always)")
}

// Enabled says whether single sign-on is configured.
func (c *Config) Enabled() bool { return c.Issuer != "" }

// Validate checks the configuration when single sign-on is on.
func (c *Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	for name, v := range map[string]string{"--oidc.client-id": c.ClientID, "--oidc.redirect-url": c.RedirectURL,
		"--oidc.agent-claim": c.AgentClaim, "--oidc.roles-claim": c.RolesClaim, "--oidc.roles": c.Roles} {
		if v == "" {
			return fmt.Errorf("%s is required with --oidc.issuer", name)
		}
	}
	for name, v := range map[string]string{"--oidc.issuer": c.Issuer, "--oidc.redirect-url": c.RedirectURL} {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("%s: %q is not an http(s) URL", name, v)
		}
	}
	if c.SessionTTL < time.Minute || c.SessionTTL > 24*time.Hour {
		return errors.New("--oidc.session-ttl must be between 1m and 24h")
	}
	c.roles = map[string]agentauth.Role{}
	for _, pair := range strings.Split(c.Roles, ",") {
		value, role, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || value == "" {
			return fmt.Errorf("--oidc.roles: %q is not claim-value=role", pair)
		}
		switch role {
		case "agent":
			c.roles[value] |= agentauth.RoleAgent
		case "supervisor":
			// A supervisor is an agent too, as in the agents file.
			c.roles[value] |= agentauth.RoleAgent | agentauth.RoleSupervisor
		default:
			return fmt.Errorf("--oidc.roles: role %q: only agent and supervisor sign in (clients and operators use keys)", role)
		}
	}
	return nil
}

func (c *Config) scopes() []string {
	out := []string{"openid"}
	for _, s := range strings.Split(c.Scopes, ",") {
		if s = strings.TrimSpace(s); s != "" && s != "openid" {
			out = append(out, s)
		}
	}
	return out
}
