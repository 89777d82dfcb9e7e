// Package sip is the media gateway's SIP adapter: a back-to-back user agent
// that rings an agent's phone, dials the contact through the trunk once the
// agent answers (agent-first dialling) and anchors the call's media: both
// legs' RTP end here and the gateway forwards, holds, mutes, records and
// sends DTMF (bridge.go, control.go, record.go).
//
// It owns the SIP stack: a UDP listener and, when configured, TCP and TLS
// ones (transport.go, with SRTP toward the trunk), sipgo's transport and
// transaction layers, and diago's dialogs and media sessions; a registrar
// for the agents' phones (registrar.go, digest.go, accounts.go, with
// lock-outs per account and source in lockout.go), limits per source
// (ratelimit.go, limits.go) and the OPTIONS keep-alive toward the trunk
// (keepalive.go). It accepts no call from outside (403: no toll fraud
// through the trunk); a call is only ever placed by Dial. It reports
// progress through a callback and knows nothing of events, streams or the
// bus: the service maps Progress to events. It must not import the
// service's domain packages nor any libs/ adapter.
package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"
)

// Defaults for a zero Config field.
const (
	// The ring timeouts are the product's, shown by the flags too
	// (--media.agent-ring-timeout, --media.contact-ring-timeout): a desk
	// phone is answered in seconds; a contact's phone rings about six times.
	DefaultAgentRingTimeout   = 20 * time.Second
	DefaultContactRingTimeout = 30 * time.Second
	// DefaultKeepAlive is the usual OPTIONS interval toward a trunk; a zero
	// Config.KeepAlive disables the probes.
	DefaultKeepAlive = 30 * time.Second
)

// byeTimeout bounds the BYEs the gateway sends on its own (a leg hung up,
// shutdown): a live phone answers in milliseconds, a dead one never does.
const byeTimeout = 5 * time.Second

// callHeader carries the call attempt id on both legs, for tracing a call
// through phone, trunk and gateway logs.
const callHeader = "X-Ringback-Call"

// ErrStopped is returned by Dial once the gateway's Run has ended or is
// ending.
var ErrStopped = errors.New("sip: gateway stopped")

// errListenerStopped: sipgo's ServeUDP returns nil when its socket closes,
// which only Run should do.
var errListenerStopped = errors.New("listener stopped")

// Gateway is the SIP back-to-back user agent. Its methods are safe for
// concurrent use.
type Gateway struct {
	cfg       Config
	log       *slog.Logger
	conn      net.PacketConn
	addr      string // bound host:port
	host      string // bound host, for From
	trunkHost string
	trunkPort int

	ua  *sipgo.UserAgent
	srv *sipgo.Server
	dg  *diago.Diago
	// offers: the ptime of the phones' re-INVITEs (repack.go)
	offers offerBook

	reg   *registrar
	limit *sourceLimiter
	trunk trunkState

	streams   *streamListeners // TCP and TLS, when served
	serverTLS *tls.Config      // nil without a certificate
	txs       *sourceCounter   // server transactions per source
	conns     *sourceCounter   // TCP and TLS connections per source
	dialogs   *sourceCounter   // legs per phone address

	ready    chan struct{} // closed once Run serves: Dial waits for it
	stopping chan struct{} // closed when Run begins to stop

	keepers  sync.WaitGroup // Keep: the service still needs the stack
	registry atomic.Pointer[registryBox]
	killed   atomic.Bool // Kill: silent from now on

	mu      sync.Mutex
	state   runState
	nextID  uint64
	dialing map[uint64]context.CancelCauseFunc // Dial calls in progress
	wg      sync.WaitGroup                     // Dial calls in progress and call watchers
	leaving sync.WaitGroup                     // INVITEs given up before any answer (leaveInvite)
	left    bool                               // Run waits for leaving: no more Add
}

type runState int

const (
	created runState = iota
	running
	stopped
)

// New binds the UDP listener and builds the SIP stack. Call Run to serve.
func New(cfg Config, log *slog.Logger) (*Gateway, error) {
	if cfg.AgentRingTimeout == 0 {
		cfg.AgentRingTimeout = DefaultAgentRingTimeout
	}
	if cfg.ContactRingTimeout == 0 {
		cfg.ContactRingTimeout = DefaultContactRingTimeout
	}
	if cfg.SourceRate == 0 {
		cfg.SourceRate = DefaultSourceRate
	}
	if cfg.DigestAlgorithms == nil {
		cfg.DigestAlgorithms = DefaultDigestAlgorithms
	}
	if cfg.MaxTransactionsPerSource == 0 {
		cfg.MaxTransactionsPerSource = DefaultMaxTransactionsPerSource
	}
	if cfg.MaxDialogsPerSource == 0 {
		cfg.MaxDialogsPerSource = DefaultMaxDialogsPerSource
	}
	if cfg.MaxConnectionsPerSource == 0 {
		cfg.MaxConnectionsPerSource = DefaultMaxConnectionsPerSource
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	trunkHost, trunkPortStr, _ := net.SplitHostPort(cfg.Trunk) // validated
	trunkPort, _ := strconv.Atoi(trunkPortStr)
	serverTLS, clientTLS, err := cfg.tlsConfigs()
	if err != nil {
		return nil, err
	}
	trunkIP := ""
	if ip := net.ParseIP(trunkHost); ip != nil {
		trunkIP = ip.String()
	}
	conns := newSourceCounter("connections", cfg.MaxConnectionsPerSource, trunkIP, log)

	conn, err := net.ListenPacket("udp4", anyHost(cfg.Listen))
	if err != nil {
		return nil, fmt.Errorf("sip: listen %s: %w", cfg.Listen, err)
	}
	bound := conn.LocalAddr().(*net.UDPAddr)
	streams, err := listenStreams(cfg, serverTLS, conns)
	if err != nil {
		conn.Close()
		return nil, err
	}

	g := &Gateway{
		cfg:       cfg,
		log:       log,
		conn:      conn,
		addr:      bound.String(),
		host:      bound.IP.String(),
		trunkHost: trunkHost,
		trunkPort: trunkPort,
		ready:     make(chan struct{}),
		stopping:  make(chan struct{}),
		dialing:   make(map[uint64]context.CancelCauseFunc),
		reg:       newRegistrar(cfg.Accounts, cfg.DigestAlgorithms, log),
		limit:     newSourceLimiter(cfg.SourceRate, log),
		streams:   streams,
		serverTLS: serverTLS,
		txs:       newSourceCounter("transactions", cfg.MaxTransactionsPerSource, trunkIP, log),
		conns:     conns,
		dialogs:   newSourceCounter("dialogs", cfg.MaxDialogsPerSource, trunkHost, log), // keyed by the leg's host
	}
	g.trunk.up.Store(true) // until the probes say otherwise
	if err := g.buildStack(bound, clientTLS); err != nil {
		conn.Close()
		streams.close()
		return nil, err
	}
	return g, nil
}

func (g *Gateway) buildStack(bound *net.UDPAddr, clientTLS *tls.Config) error {
	libLog := slog.New(newLibHandler(g.log.Handler()))
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(g.cfg.CallerID),
		sipgo.WithUserAgentHostname(g.host),
		// Every TLS connection sipgo opens (the trunk's, a phone's) verifies
		// its peer with this.
		sipgo.WithUserAgenTLSConfig(clientTLS),
		sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(libLog)),
		sipgo.WithUserAgentTransactionLayerOptions(
			sipgosip.WithTransactionLayerLogger(libLog),
			// A response matching no transaction is a retransmission or
			// junk; sipgo's default logs it at Info on the global logger.
			sipgosip.WithTransactionLayerUnhandledResponseHandler(func(r *sipgosip.Response) {
				g.log.Debug("sip: response outside any transaction", "code", r.StatusCode, "source", r.Source())
			}),
		),
	)
	if err != nil {
		return fmt.Errorf("sip: user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(libLog))
	if err != nil {
		ua.Close()
		return fmt.Errorf("sip: server: %w", err)
	}
	g.ua, g.srv = ua, srv
	// The UDP transport names the socket we bound: diago's client then
	// sends from it (sipgo reuses the listener for its bound address), so
	// Via, Contact and the source of every request are the one address
	// phones and the trunk can reach us at. TCP and TLS name their
	// listeners' ports for Contact.
	dgOpts := []diago.DiagoOption{diago.WithServer(srv), diago.WithLogger(libLog)}
	for _, t := range g.diagoTransports(bound) {
		dgOpts = append(dgOpts, diago.WithTransport(t))
	}
	g.dg = diago.NewDiago(ua, append(dgOpts,
		// PCMU and PCMA on every leg, and RFC 4733 events for the DTMF keypad.
		diago.WithMediaConfig(diago.MediaConfig{
			Codecs: offeredCodecs(),
		}),
		diago.WithServerRequestMiddleware(g.screen),
	)...)
	// Unreachable while screen rejects every new INVITE; diago's default
	// handler would print to stdout and leave the INVITE unanswered.
	g.dg.HandleFunc(func(d *diago.DialogServerSession) {
		_ = d.Respond(sipgosip.StatusForbidden, "Forbidden", nil)
	})
	// diago leaves REGISTER alone: the agents' phones register with us.
	srv.OnRegister(g.handleRegister)
	// Methods nobody handles (MESSAGE, SUBSCRIBE, ...) get 405, screened
	// like the rest so that they count against the source's rate.
	srv.OnNoRoute(g.screen(func(req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		g.respond(req, tx, sipgosip.StatusMethodNotAllowed, "Method Not Allowed")
	}))
	// OPTIONS probes leave from the bound socket, like diago's requests.
	kaOpts := []sipgo.ClientOption{sipgo.WithClientLogger(libLog)}
	// Over TCP or TLS sipgo dials from an ephemeral port (binding --sip's
	// port would collide with our TCP listener on it).
	if !bound.IP.IsUnspecified() && g.trunkTransport() == TransportUDP {
		kaOpts = append(kaOpts, sipgo.WithClientHostname(g.host), sipgo.WithClientConnectionAddr(g.addr))
	}
	if g.trunk.client, err = sipgo.NewClient(ua, kaOpts...); err != nil {
		ua.Close()
		return fmt.Errorf("sip: client: %w", err)
	}
	return nil
}

// Addr is the bound UDP host:port, e.g. 127.0.0.1:5060 (0.0.0.0:5060 when
// Listen has no host).
func (g *Gateway) Addr() string { return g.addr }

// Run serves SIP until ctx is done, then hangs up every call, cancels every
// Dial in progress, waits for them and closes the listener. It returns nil
// after ctx is done, or the listener's error.
func (g *Gateway) Run(ctx context.Context) error {
	g.mu.Lock()
	if g.state != created {
		g.mu.Unlock()
		return errors.New("sip: Run after Close or a second Run")
	}
	g.state = running
	g.mu.Unlock()

	// One result per listener served; each ends when Run closes it.
	serveErr := make(chan error, 3)
	go func() { serveErr <- g.srv.ServeUDP(g.conn) }()
	pending := 1
	if l := g.streams.tcp; l != nil {
		pending++
		go func() { serveErr <- g.srv.ServeTCP(l) }()
	}
	if l := g.streams.tls; l != nil {
		pending++
		go func() { serveErr <- g.srv.ServeTLS(l) }()
	}

	err := g.waitServing(ctx, serveErr)
	if err != nil {
		pending-- // waitServing received one result
	} else {
		close(g.ready)
		g.log.Info("sip: listening", "addr", g.addr, "tcp", g.streams.addrTCP, "tls", g.streams.addrTLS, "trunk", g.cfg.Trunk)
		stopProbes := g.startKeepAlive()
		select {
		case <-ctx.Done():
			if err = g.waitKept(serveErr); err != nil {
				pending--
			}
		case err = <-serveErr:
			pending--
			err = g.serveFailed(err)
			if g.killed.Load() {
				// Killed (tests' kill -9): frozen until told to stop, as a
				// dead process would be, then gone without a word.
				<-ctx.Done()
				err = nil
			}
		}
		stopProbes()
	}

	g.stop()
	leavingDone := g.waitLeaving()
	// Closing the socket is what ends the serve loops waited for below;
	// it cannot fail in a way a stopping gateway could act on.
	_ = g.conn.Close()
	g.streams.close()
	for range pending {
		// Each ends on the socket closed under it: news only to a debugger.
		if serr := <-serveErr; serr != nil {
			g.log.Debug("sip: listener ended", "error", serr)
		}
	}
	// Closing the stack terminates the transactions the INVITEs left
	// behind still wait on.
	err = errors.Join(err, g.ua.Close())
	<-leavingDone
	return err
}

// leaveGrace is how long a stopping gateway gives the INVITEs it gave up
// before any answer (leaveInvite) to hear the ringing they must CANCEL:
// four UDP retransmission intervals (T1, 500 ms).
const leaveGrace = 2 * time.Second

// leaveInvite runs abandon, which waits on an INVITE its dial gave up
// before the phone answered anything, on a goroutine of its own: a CANCEL
// is only allowed after a provisional response (RFC 3261 9.1), so sipgo
// waits for one, up to Timer B (32 s), to send it. The dial goes on at
// once, and the phone does not ring on when its ringing was only late. A
// stopping Run waits for these up to leaveGrace while it still serves,
// then closes the stack under the rest.
func (g *Gateway) leaveInvite(abandon func()) {
	g.mu.Lock()
	if g.left {
		// Run is past waiting: the stack closes under this one at once.
		g.mu.Unlock()
		abandon()
		return
	}
	g.leaving.Add(1)
	g.mu.Unlock()
	go func() {
		defer g.leaving.Done()
		abandon()
	}()
}

// waitLeaving makes any later leaveInvite run its abandon inline, waits
// for those already running up to leaveGrace, and returns a channel closed
// once they have all ended.
func (g *Gateway) waitLeaving() <-chan struct{} {
	g.mu.Lock()
	g.left = true
	g.mu.Unlock()
	done := make(chan struct{})
	go func() {
		g.leaving.Wait()
		close(done)
	}()
	grace := time.NewTimer(leaveGrace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
	}
	return done
}

func (g *Gateway) serveFailed(err error) error {
	if err == nil {
		err = errListenerStopped
	}
	return fmt.Errorf("sip: serve %s: %w", g.addr, err)
}

// waitServing waits until sipgo has registered the listener as a connection.
// Until then a Dial would bind a second socket to our address and fail.
func (g *Gateway) waitServing(ctx context.Context, serveErr <-chan error) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := g.ua.TransportLayer().GetConnection("udp", g.addr); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil // stopping before serving is no error
		case err := <-serveErr:
			return g.serveFailed(err)
		case <-tick.C:
		}
	}
}

// stop ends every Dial and call and waits for them. It runs while the
// listener still serves: CANCEL and BYE need it.
func (g *Gateway) stop() {
	g.mu.Lock()
	g.state = stopped
	close(g.stopping)
	for _, cancel := range g.dialing {
		cancel(ErrStopped)
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// Close releases the listener of a Gateway whose Run was never called (its
// service failed to start). After Run it does nothing: Run closes all.
func (g *Gateway) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != created {
		return nil
	}
	g.state = stopped
	close(g.stopping)
	g.streams.close()
	return errors.Join(g.conn.Close(), g.ua.Close())
}

// begin registers a Dial so that Run cancels and waits for it; end must be
// called when it returns.
func (g *Gateway) begin(cancel context.CancelCauseFunc) (end func(), err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == stopped {
		return nil, ErrStopped
	}
	g.nextID++
	id := g.nextID
	g.dialing[id] = cancel
	g.wg.Add(1)
	return func() {
		g.mu.Lock()
		delete(g.dialing, id)
		g.mu.Unlock()
		g.wg.Done()
	}, nil
}

// screen runs before diago's handlers: it refuses what a B2BUA that only
// places calls must never accept.
func (g *Gateway) screen(next sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		if !req.IsAck() && !hasToTag(req) && !g.limit.allow(sourceIP(req)) {
			return // dropped: sipgo terminates the unanswered transaction
		}
		release, ok := g.limitTransaction(req, tx)
		if !ok {
			return // answered 503
		}
		defer release()
		switch {
		case req.IsInvite() && !hasToTag(req):
			// A new call from outside: we never route one to the trunk.
			g.log.Warn("sip: call from outside refused", "source", req.Source())
			g.respond(req, tx, sipgosip.StatusForbidden, "Forbidden")
			return
		case req.Method == sipgosip.BYE && !hasToTag(req):
			// No To tag: it cannot be in any of our dialogs (RFC 3261 15.1.2).
			g.respond(req, tx, sipgosip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
			return
		}
		g.offers.offered(req)
		next(req, tx)
	}
}

func (g *Gateway) respond(req *sipgosip.Request, tx sipgosip.ServerTransaction, code int, reason string) {
	if err := tx.Respond(sipgosip.NewResponseFromRequest(req, code, reason, nil)); err != nil {
		g.log.Warn("sip: respond", "code", code, "source", req.Source(), "error", maskDigits(err.Error()))
	}
}

func hasToTag(req *sipgosip.Request) bool {
	to := req.To()
	return to != nil && to.Params.Has("tag")
}

// isToken reports whether s is safe as a SIP user or header value: printable
// ASCII without separators that would change the message.
func isToken(s string) bool {
	if len(s) > 128 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || r == '<' || r == '>' || r == '"' || r == ';' || r == ',' || r == '@' || r == ':' {
			return false
		}
	}
	return true
}

// offeredCodecs are the codecs every leg is offered, in order of preference:
// G.711 first, as trunks expect, then Opus when built with libopus.
func offeredCodecs() []media.Codec {
	cs := []media.Codec{media.CodecAudioUlaw, media.CodecAudioAlaw}
	if opusSupported {
		cs = append(cs, media.CodecAudioOpus)
	}
	return append(cs, media.CodecTelephoneEvent8000)
}
