package sip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"
)

// The registrar: agents' phones REGISTER (RFC 3261 10) with digest
// credentials from Config.Accounts, and Dial rings "registered:<user>" at
// the Contact they registered. One binding per user: the latest REGISTER
// wins.

// RegisteredPrefix marks an agent URI for Dial that names a registered user.
const RegisteredPrefix = "registered:"

// ReasonNotRegistered is the reason of the OutcomeAgentUnavailable error
// when Dial is asked to ring a user with no registration.
const ReasonNotRegistered = "not registered"

const (
	defaultExpires = 3600 * time.Second
	maxExpires     = 3600 * time.Second

	// A source address that fails authentication failLimit times within
	// failWindow is refused (403) for blockFor, right password or not.
	failLimit  = 5
	failWindow = time.Minute
	blockFor   = time.Minute
	// maxSources bounds the per-source records.
	maxSources = 10000
)

type registrar struct {
	log      *slog.Logger
	accounts map[string]string
	decoy    string // the password of users that do not exist
	now      func() time.Time

	mu       sync.Mutex
	bindings map[string]binding
	nonces   map[string]*nonceState
	sources  map[string]*sourceState
}

type binding struct {
	contact string
	expires time.Time
}

type sourceState struct {
	first        time.Time // of the current failure window
	failures     int
	blockedUntil time.Time
}

func newRegistrar(accounts map[string]string, log *slog.Logger) *registrar {
	var b [16]byte
	_, _ = rand.Read(b[:])
	copied := make(map[string]string, len(accounts))
	for u, p := range accounts {
		copied[u] = p
	}
	return &registrar{
		log:      log,
		accounts: copied,
		decoy:    hex.EncodeToString(b[:]),
		now:      time.Now,
		bindings: make(map[string]binding),
		nonces:   make(map[string]*nonceState),
		sources:  make(map[string]*sourceState),
	}
}

// Registry keeps the agents' registrations where every gateway instance
// finds them (the service: events in the store, a read model), so a phone
// registered with one instance is rung by any. Without one (SetRegistry),
// registrations live in this process only.
type Registry interface {
	// Bind records that user's phone is at contact until expires; a zero
	// expires removes the binding. cause identifies the REGISTER (its
	// Call-ID and CSeq), so a retransmission records nothing new. It is
	// called before the 200 OK; an error answers 500 and the phone retries.
	Bind(ctx context.Context, user, contact string, expires time.Time, cause string) error
	// Lookup returns user's binding as last recorded by any instance.
	Lookup(user string) (contact string, expires time.Time, ok bool)
}

type registryBox struct{ r Registry }

// SetRegistry makes Registered and REGISTER use r. Call it before Run.
func (g *Gateway) SetRegistry(r Registry) { g.registry.Store(&registryBox{r}) }

// registryTimeout bounds the recording of one registration.
const registryTimeout = 5 * time.Second

// Registered returns the Contact URI user registered, while the
// registration has not expired (Expires honoured, 0 unregisters), with
// whichever instance it was: through the Registry when one is set. It is
// safe for concurrent use.
func (g *Gateway) Registered(user string) (contact string, ok bool) {
	if box := g.registry.Load(); box != nil {
		contact, expires, ok := box.r.Lookup(user)
		if !ok || !g.reg.now().Before(expires) {
			return "", false
		}
		return contact, true
	}
	r := g.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.bindings[user]
	if !ok {
		return "", false
	}
	if !r.now().Before(b.expires) {
		delete(r.bindings, user)
		return "", false
	}
	return b.contact, true
}

func (g *Gateway) handleRegister(req *sipgosip.Request, tx sipgosip.ServerTransaction) {
	res := g.reg.register(req)
	if box := g.registry.Load(); box != nil && res.StatusCode == sipgosip.StatusOK {
		res = g.share(box.r, req, res)
	}
	if err := tx.Respond(res); err != nil {
		g.log.Warn("sip: respond to REGISTER", "code", res.StatusCode, "source", req.Source(), "error", err)
	}
}

func (r *registrar) register(req *sipgosip.Request) *sipgosip.Response {
	now := r.now()
	source := sourceIP(req)
	if r.blocked(source, now) {
		return sipgosip.NewResponseFromRequest(req, sipgosip.StatusForbidden, "Forbidden", nil)
	}
	to := req.To()
	if to == nil || to.Address.User == "" {
		return sipgosip.NewResponseFromRequest(req, sipgosip.StatusBadRequest, "Bad Request - no user in To", nil)
	}
	aor := to.Address.User
	h := req.GetHeader("Authorization")
	if h == nil {
		return r.challenge(req, false, now)
	}
	result := authFailed
	if c, err := parseCredentials(h.Value()); err == nil {
		result = r.verify(req, c, aor, now)
	}
	switch result {
	case authStale:
		return r.challenge(req, true, now)
	case authFailed:
		if r.failed(source, now) {
			return sipgosip.NewResponseFromRequest(req, sipgosip.StatusForbidden, "Forbidden", nil)
		}
		// The same answer as for no credentials at all: a fresh challenge,
		// whether the user exists or not.
		return r.challenge(req, false, now)
	}
	return r.bind(req, aor, now)
}

// sourceIP is the address the request came from, without the port: a phone
// retrying from another port is the same source.
func sourceIP(req *sipgosip.Request) string {
	host, _, err := net.SplitHostPort(req.Source())
	if err != nil {
		return req.Source()
	}
	return host
}

func (r *registrar) blocked(source string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.sources[source]
	return ok && now.Before(s.blockedUntil)
}

// failed counts a failed authentication and reports whether the source is
// now blocked.
func (r *registrar) failed(source string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.sources[source]
	if !ok || now.Sub(s.first) > failWindow {
		if len(r.sources) >= maxSources {
			r.pruneSourcesLocked(now)
		}
		s = &sourceState{first: now}
		r.sources[source] = s
	}
	s.failures++
	if s.failures < failLimit {
		return false
	}
	if !now.Before(s.blockedUntil) {
		r.log.Warn("sip: registration source blocked", "source", source, "failures", s.failures, "for", blockFor)
	}
	s.blockedUntil = now.Add(blockFor)
	return true
}

func (r *registrar) pruneSourcesLocked(now time.Time) {
	for k, s := range r.sources {
		if now.Sub(s.first) > failWindow && !now.Before(s.blockedUntil) {
			delete(r.sources, k)
		}
	}
	for k := range r.sources { // still full under attack: forget some
		if len(r.sources) < maxSources {
			break
		}
		delete(r.sources, k)
	}
}

// bind applies an authenticated REGISTER of user (RFC 3261 10.3 steps 6-8):
// no Contact queries, Contact: * with Expires: 0 removes, expires=0 removes,
// else the Contact is bound for its expiry (at most maxExpires).
func (r *registrar) bind(req *sipgosip.Request, user string, now time.Time) *sipgosip.Response {
	expires := defaultExpires
	if h := req.GetHeader("Expires"); h != nil {
		sec, err := strconv.ParseUint(h.Value(), 10, 32)
		if err != nil {
			return sipgosip.NewResponseFromRequest(req, sipgosip.StatusBadRequest, "Bad Request - Expires", nil)
		}
		expires = time.Duration(sec) * time.Second
	}
	var contacts []*sipgosip.ContactHeader
	for _, h := range req.GetHeaders("Contact") {
		if c, ok := h.(*sipgosip.ContactHeader); ok {
			contacts = append(contacts, c)
		}
	}
	if len(contacts) > 1 {
		return sipgosip.NewResponseFromRequest(req, sipgosip.StatusBadRequest, "Bad Request - one Contact per phone", nil)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if len(contacts) == 1 {
		c := contacts[0]
		exp := expires
		if v, ok := c.Params.Get("expires"); ok {
			sec, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return sipgosip.NewResponseFromRequest(req, sipgosip.StatusBadRequest, "Bad Request - expires", nil)
			}
			exp = time.Duration(sec) * time.Second
		}
		switch {
		case c.Address.Wildcard:
			if exp != 0 {
				return sipgosip.NewResponseFromRequest(req, sipgosip.StatusBadRequest, "Bad Request - * needs Expires: 0", nil)
			}
			delete(r.bindings, user)
			r.log.Info("sip: agent unregistered", "user", user)
		case c.Address.Scheme != "sip" || c.Address.Host == "":
			return sipgosip.NewResponseFromRequest(req, sipgosip.StatusBadRequest, "Bad Request - want a sip: Contact", nil)
		case exp == 0:
			delete(r.bindings, user)
			r.log.Info("sip: agent unregistered", "user", user)
		default:
			contact := (&sipgosip.Uri{Scheme: "sip", User: c.Address.User, Host: c.Address.Host, Port: c.Address.Port,
				UriParams: c.Address.UriParams}).String()
			r.bindings[user] = binding{contact: contact, expires: now.Add(min(exp, maxExpires))}
			r.log.Info("sip: agent registered", "user", user, "contact", maskDigits(contact), "expires", min(exp, maxExpires))
		}
	}
	res := sipgosip.NewResponseFromRequest(req, sipgosip.StatusOK, "OK", nil)
	if b, ok := r.bindings[user]; ok && now.Before(b.expires) {
		res.AppendHeader(sipgosip.NewHeader("Contact",
			fmt.Sprintf("<%s>;expires=%d", b.contact, int(b.expires.Sub(now).Round(time.Second)/time.Second))))
	}
	return res
}

// share records an accepted REGISTER in the registry, so every instance
// rings the phone where it registered; a failure answers 500 (the phone
// retries), since a binding only this instance knew would be lost.
func (g *Gateway) share(r Registry, req *sipgosip.Request, res *sipgosip.Response) *sipgosip.Response {
	user := req.To().Address.User
	g.reg.mu.Lock()
	b, bound := g.reg.bindings[user]
	g.reg.mu.Unlock()
	var contact string
	var expires time.Time
	if bound && g.reg.now().Before(b.expires) {
		contact, expires = b.contact, b.expires
	}
	if len(req.GetHeaders("Contact")) == 0 {
		return res // a query: nothing changed
	}
	cause := "register:" + req.CallID().Value()
	if cs := req.CSeq(); cs != nil {
		cause += ":" + strconv.FormatUint(uint64(cs.SeqNo), 10)
	}
	ctx, cancel := context.WithTimeout(context.Background(), registryTimeout)
	defer cancel()
	if err := r.Bind(ctx, user, contact, expires, cause); err != nil {
		g.log.Error("sip: record registration", "user", user, "error", err)
		return sipgosip.NewResponseFromRequest(req, sipgosip.StatusInternalServerError, "Server Internal Error", nil)
	}
	return res
}
