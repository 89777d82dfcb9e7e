package agentauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// SessionCookie is the cookie of a single sign-on session: HttpOnly (no
// script reads it), SameSite=Strict (no other site's page sends it, which
// is the CSRF defence), Secure behind TLS, and short-lived.
const SessionCookie = "ringback_session"

// session is what a session cookie says, signed with the site's session
// key: stateless, so every process of a site (each reading the same key)
// accepts it without a shared session table.
type session struct {
	ID       string   `json:"sub"`
	Roles    uint8    `json:"roles"` // a Role set; not its text form
	Services []string `json:"svc,omitempty"`
	Expires  int64    `json:"exp"` // Unix seconds
}

// ErrNoSessionKey is a Directory without session_key_file asked to issue a
// single sign-on session.
var ErrNoSessionKey = errors.New("the agents file has no session_key_file, so no single sign-on session can be issued")

// IssueSession is the cookie value of a session for p, valid until expires.
// Operators and visitors get none: single sign-on is for agents,
// supervisors and their tools.
func (f *Directory) IssueSession(p Principal, expires time.Time) (string, error) {
	if f == nil || f.session == nil {
		return "", ErrNoSessionKey
	}
	if p.ID == "" || !ValidID(p.ID) || p.Roles&^(RoleAgent|RoleSupervisor) != 0 || p.Roles == 0 {
		return "", fmt.Errorf("session for %q as %s: only agents and supervisors sign in", p.ID, p.Roles)
	}
	body, err := json.Marshal(session{ID: p.ID, Roles: uint8(p.Roles), Services: p.Services, Expires: expires.Unix()})
	if err != nil {
		return "", fmt.Errorf("session: %w", err)
	}
	return f.seal("session", body), nil
}

// seal signs body for purpose with the site's session key: the value is
// readable by whoever holds it, but nobody without the key can forge or
// alter it, nor use a value sealed for one purpose for another.
func (f *Directory) seal(purpose string, body []byte) string {
	payload := base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + base64.RawURLEncoding.EncodeToString(f.sign(purpose, payload))
}

func (f *Directory) sign(purpose, payload string) []byte {
	m := hmac.New(sha256.New, f.session)
	m.Write([]byte("ringback " + purpose + " v1\x00"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// unseal is the body of a value seal made for purpose, or an error.
func (f *Directory) unseal(purpose, v string) ([]byte, error) {
	payload, sig, ok := strings.Cut(v, ".")
	if !ok {
		return nil, errors.New("malformed")
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, f.sign(purpose, payload)) {
		return nil, errors.New("bad signature")
	}
	return base64.RawURLEncoding.DecodeString(payload)
}

// Seal signs body for purpose with the site's session key (the single
// sign-on's state between its redirects); ErrNoSessionKey without one.
func (f *Directory) Seal(purpose string, body []byte) (string, error) {
	if f == nil || f.session == nil {
		return "", ErrNoSessionKey
	}
	return f.seal(purpose, body), nil
}

// Unseal is the body of a value Seal made for purpose.
func (f *Directory) Unseal(purpose, v string) ([]byte, error) {
	if f == nil || f.session == nil {
		return nil, ErrNoSessionKey
	}
	return f.unseal(purpose, v)
}

// SessionPrincipal is the principal of a session cookie value, or an error
// if it is forged, malformed or expired.
func (f *Directory) SessionPrincipal(v string) (Principal, error) {
	if f == nil || f.session == nil {
		return Principal{}, ErrNoSessionKey
	}
	return f.verifySession(v)
}

func (f *Directory) verifySession(v string) (Principal, error) {
	body, err := f.unseal("session", v)
	if err != nil {
		return Principal{}, fmt.Errorf("session: %w", err)
	}
	var s session
	if err := json.Unmarshal(body, &s); err != nil {
		return Principal{}, fmt.Errorf("session: %w", err)
	}
	if !time.Now().Before(time.Unix(s.Expires, 0)) {
		return Principal{}, errors.New("session: expired")
	}
	return Principal{ID: s.ID, Roles: Role(s.Roles) & (RoleAgent | RoleSupervisor), Services: s.Services}, nil
}

// SetSessionCookie writes the session cookie; secure when the desktop is
// served over TLS (directly or behind a proxy that says so).
func SetSessionCookie(w http.ResponseWriter, r *http.Request, value string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: value, Path: "/", Expires: expires,
		MaxAge: int(time.Until(expires).Seconds()), HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"})
}

// ClearSessionCookie ends the browser's session.
func ClearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"})
}
