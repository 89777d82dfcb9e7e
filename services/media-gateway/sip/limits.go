package sip

import (
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"
)

// Limits per source address (issue 16, point 6), besides the request rate
// (ratelimit.go) and the registration lock-outs (lockout.go):
//
//   - transactions: at most Config.MaxTransactionsPerSource requests of one
//     source handled at once, until their final response; beyond, 503
//     Service Unavailable with Retry-After (RFC 3261 21.5.4), which phones
//     honour;
//   - connections: at most Config.MaxConnectionsPerSource TCP and TLS
//     connections, counted from accept (before the TLS handshake); beyond,
//     the connection is closed at once. A connection must say something
//     (the TLS handshake included) within firstReadTimeout and is closed
//     after idleTimeout without a byte, so silent sockets cannot pile up:
//     sipgo sets no deadline;
//   - dialogs: the gateway accepts no dialog from outside (screen answers
//     403), so a source's dialogs are the legs we place to it; at most
//     Config.MaxDialogsPerSource at once toward one phone's address, and a
//     leg beyond fails as 486 Busy Here without an INVITE sent.
//
// The trunk is exempt: it carries every contact's leg and is configured,
// not anyone on the network.

// Defaults of the per-source limits, far above what a desk phone or an
// office's NAT needs: a phone has one registration, a few OPTIONS and the
// in-dialog requests of its calls.
const (
	DefaultMaxTransactionsPerSource = 64
	// DefaultMaxConnectionsPerSource: an office's NAT holds a connection per
	// phone on TCP or TLS.
	DefaultMaxConnectionsPerSource = 512
	DefaultMaxDialogsPerSource     = 16
	// retryAfter is what a source over its transactions is told to wait.
	retryAfter = 5 * time.Second
	// firstReadTimeout: a phone that connects sends its request (or TLS
	// ClientHello) at once.
	firstReadTimeout = 10 * time.Second
	// idleTimeout: a phone keeps its connection for its registration and
	// refreshes it before maxExpires; longer silence is a dead peer.
	idleTimeout = maxExpires + 5*time.Minute
)

// sourceCounter counts what each source holds, up to max. It is safe for
// concurrent use.
type sourceCounter struct {
	what   string // for logs: "transactions", "connections", "dialogs"
	max    int    // <= 0: no limit
	exempt string // the trunk: its IP for sources, its host as configured for legs
	log    *slog.Logger

	mu     sync.Mutex
	held   map[string]int
	warned map[string]time.Time
}

func newSourceCounter(what string, max int, exempt string, log *slog.Logger) *sourceCounter {
	return &sourceCounter{what: what, max: max, exempt: exempt, log: log,
		held: make(map[string]int), warned: make(map[string]time.Time)}
}

// acquire takes one of source's slots; release gives it back and may be
// called any number of times. ok is false when source holds max already.
func (c *sourceCounter) acquire(source string) (release func(), ok bool) {
	if c.max <= 0 || source == c.exempt {
		return func() {}, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held[source] >= c.max {
		now := time.Now()
		if now.Sub(c.warned[source]) >= dropLogEvery {
			if len(c.warned) >= maxSources {
				clear(c.warned)
			}
			c.warned[source] = now
			c.log.Warn("sip: source over its limit, refused", "source", source, "what", c.what, "limit", c.max,
				"next_log_in", dropLogEvery)
		}
		return nil, false
	}
	c.held[source]++
	return sync.OnceFunc(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.held[source]--; c.held[source] <= 0 {
			delete(c.held, source)
		}
	}), true
}

// limitTransaction counts req against its source while it is handled, until
// its final response is sent: what a source can hold of the gateway's work
// (a REGISTER waiting on the store, a re-INVITE being answered). A
// transaction lingering afterwards to absorb retransmissions (Timer J, 32 s
// on UDP) costs sipgo a timer, no handler, and is bounded by the request
// rate instead; counting it would lock out an office's NAT after a burst of
// refreshes. Over the limit it answers 503 with Retry-After and ok is false:
// the request must not be handled. Call release when the handler returns.
func (g *Gateway) limitTransaction(req *sipgosip.Request, tx sipgosip.ServerTransaction) (release func(), ok bool) {
	if req.IsAck() {
		return func() {}, true // not a transaction of its own
	}
	release, ok = g.txs.acquire(sourceIP(req))
	if !ok {
		res := sipgosip.NewResponseFromRequest(req, sipgosip.StatusServiceUnavailable, "Service Unavailable", nil)
		res.AppendHeader(sipgosip.NewHeader("Retry-After", strconv.Itoa(int(retryAfter/time.Second))))
		if err := tx.Respond(res); err != nil {
			g.log.Debug("sip: respond 503", "source", req.Source(), "error", err)
		}
		return nil, false
	}
	return release, true
}

// limitedListener counts accepted connections against their source and
// puts read deadlines on them.
type limitedListener struct {
	net.Listener
	conns           *sourceCounter
	firstRead, idle time.Duration
}

func (c *sourceCounter) wrap(l net.Listener) net.Listener {
	return &limitedListener{Listener: l, conns: c, firstRead: firstReadTimeout, idle: idleTimeout}
}

// Accept returns the next connection whose source has room; the others are
// closed unread.
func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
		release, ok := l.conns.acquire(host)
		if !ok {
			_ = conn.Close()
			continue
		}
		return &limitedConn{Conn: conn, release: release, firstRead: l.firstRead, idle: l.idle}, nil
	}
}

// limitedConn is read by one goroutine (sipgo's reader, or the TLS layer
// on its behalf), so spoke needs no lock.
type limitedConn struct {
	net.Conn
	release         func()
	firstRead, idle time.Duration
	spoke           bool
}

// Read bounds the wait for the peer's first bytes, then its silences.
func (c *limitedConn) Read(p []byte) (int, error) {
	wait := c.idle
	if !c.spoke {
		wait = c.firstRead
	}
	if err := c.Conn.SetReadDeadline(time.Now().Add(wait)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.spoke = true
	}
	return n, err
}

func (c *limitedConn) Close() error {
	c.release()
	return c.Conn.Close()
}
