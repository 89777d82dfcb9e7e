package sip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
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

// ReasonNotRegistered is the reason of the OutcomeAgentNotRegistered error
// when Dial is asked to ring a user with no registration.
const ReasonNotRegistered = "not registered"

const (
	defaultExpires = 3600 * time.Second
	maxExpires     = 3600 * time.Second
)

type registrar struct {
	log      *slog.Logger
	accounts map[string]Account // Algorithms resolved: never nil
	defaults []string           // algorithms of unknown users, Config.DigestAlgorithms
	decoy    string             // the password of users that do not exist
	now      func() time.Time
	lock     *lockout

	mu       sync.Mutex
	bindings map[string]binding
	nonces   map[string]*nonceState
	flows    map[string]flow // bound contact -> the connection it registered over
}

// flow is the TCP or TLS connection a phone registered over (RFC 5626 calls
// it a flow): behind NAT its Contact is unreachable, and the connection it
// opened is the way back in.
type flow struct {
	transport string // "tcp" or "tls"
	source    string // the phone's end of the connection, host:port
}

type binding struct {
	contact string
	expires time.Time
}

// newRegistrar copies accounts, giving each its algorithms (defaults when
// it names none); both were validated by Config.Validate.
func newRegistrar(accounts map[string]Account, defaults []string, log *slog.Logger) *registrar {
	var b [16]byte
	_, _ = rand.Read(b[:])
	defaults, _ = normalizeAlgorithms(defaults)
	copied := make(map[string]Account, len(accounts))
	for u, a := range accounts {
		algs := defaults
		if len(a.Algorithms) > 0 {
			algs, _ = normalizeAlgorithms(a.Algorithms)
		}
		copied[u] = Account{Password: a.Password, Algorithms: algs}
	}
	return &registrar{
		log:      log,
		accounts: copied,
		defaults: defaults,
		decoy:    hex.EncodeToString(b[:]),
		now:      time.Now,
		lock:     newLockout(log),
		bindings: make(map[string]binding),
		nonces:   make(map[string]*nonceState),
		flows:    make(map[string]flow),
	}
}

// algorithms are the digest algorithms challenged for user: the account's,
// or the realm's default for a user that does not exist, so that an
// unknown user gets the challenge an ordinary account gets.
func (r *registrar) algorithms(user string) []string {
	if a, ok := r.accounts[user]; ok {
		return a.Algorithms
	}
	return r.defaults
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
	release, ok := g.limitTransaction(req, tx)
	if !ok {
		return // answered 503
	}
	defer release()
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
	to := req.To()
	if to == nil || to.Address.User == "" {
		return sipgosip.NewResponseFromRequest(req, sipgosip.StatusBadRequest, "Bad Request - no user in To", nil)
	}
	aor := to.Address.User
	if r.lock.blocked(aor, source, now) {
		return sipgosip.NewResponseFromRequest(req, sipgosip.StatusForbidden, "Forbidden", nil)
	}
	algs := r.algorithms(aor)
	h := req.GetHeader("Authorization")
	if h == nil {
		return r.challenge(req, algs, false, now)
	}
	result := authFailed
	c, err := parseCredentials(h.Value())
	if err == nil {
		result = r.verify(req, c, aor, now)
	}
	switch result {
	case authStale:
		return r.challenge(req, algs, true, now)
	case authFailed:
		// One failure per attempt: the same credentials sent again (a
		// phone resending its REGISTER in a new transaction) count once.
		if r.firstFailure(c, err == nil) {
			r.lock.fail(aor, source, now)
		}
		// 403, not a fresh challenge: a phone answers every 401 with the
		// same wrong password at once (libre does, in a loop), so one
		// mistyped password would use up the allowance in one attempt; a
		// 403 ends the attempt, and the phone tries again on its own timer.
		// The same answer whether the user exists or not.
		return sipgosip.NewResponseFromRequest(req, sipgosip.StatusForbidden, "Forbidden", nil)
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
			r.unbindLocked(user)
			r.log.Info("sip: agent unregistered", "user", user)
		case (c.Address.Scheme != "sip" && c.Address.Scheme != "sips") || c.Address.Host == "":
			return sipgosip.NewResponseFromRequest(req, sipgosip.StatusBadRequest, "Bad Request - want a sip: Contact", nil)
		case exp == 0:
			r.unbindLocked(user)
			r.log.Info("sip: agent unregistered", "user", user)
		default:
			contact := (&sipgosip.Uri{Scheme: "sip", User: c.Address.User, Host: c.Address.Host, Port: c.Address.Port,
				UriParams: contactParams(c.Address, req.Transport())}).String()
			r.unbindLocked(user)
			r.bindings[user] = binding{contact: contact, expires: now.Add(min(exp, maxExpires))}
			// A Contact naming another host than the one the REGISTER came
			// from is a phone behind NAT (RFC 3581's test): reached over its
			// connection while it lasts. Otherwise at its Contact, as RFC
			// 3261 says.
			if t := strings.ToLower(req.Transport()); (t == TransportTCP || t == TransportTLS) &&
				!strings.EqualFold(c.Address.Host, sourceIP(req)) {
				r.flows[contact] = flow{transport: t, source: req.Source()}
			}
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

// unbindLocked removes user's binding and its flow; r.mu is held.
func (r *registrar) unbindLocked(user string) {
	if b, ok := r.bindings[user]; ok {
		delete(r.flows, b.contact)
	}
	delete(r.bindings, user)
}

// flowTo returns the phone's end of the TCP or TLS connection the phone at
// u registered over, while this process still holds it: a request sent
// there rides that connection. Other instances reach the Contact instead.
func (g *Gateway) flowTo(u sipgosip.Uri) (string, bool) {
	g.reg.mu.Lock()
	f, ok := g.reg.flows[u.String()]
	g.reg.mu.Unlock()
	if !ok {
		return "", false
	}
	conn, err := g.ua.TransportLayer().GetConnection(f.transport, f.source)
	if err != nil || conn == nil {
		return "", false
	}
	_, _ = conn.TryClose() // GetConnection took a reference
	return f.source, true
}

// contactParams are the URI parameters of a bound Contact. The phone is
// rung over the transport it registered over when its Contact names none
// (a phone on TCP or TLS means to be reached there, RFC 3261 18.1.1 would
// otherwise pick UDP), and a sips: Contact becomes transport=tls: the
// gateway places every leg as sip:, with TLS to the phone.
func contactParams(u sipgosip.Uri, registeredOver string) sipgosip.HeaderParams {
	params := sipgosip.NewParams()
	if u.UriParams != nil {
		params = u.UriParams.Clone()
	}
	if u.Scheme == "sips" { // TLS whatever transport it names (RFC 5630 3.1)
		params.Add("transport", TransportTLS)
		return params
	}
	if t, ok := params.Get("transport"); ok && t != "" {
		return params
	}
	if over := strings.ToLower(registeredOver); over == TransportTCP || over == TransportTLS {
		params.Add("transport", over)
	}
	return params
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
