// Package sip is the media gateway's SIP adapter: a back-to-back user agent
// that rings an agent's phone, dials the contact through the trunk once the
// agent answers (agent-first dialling) and anchors the call's media: both
// legs' RTP end here and the gateway forwards, holds, mutes, records and
// sends DTMF (bridge.go, control.go, record.go).
//
// It owns the SIP stack: one UDP listener, sipgo's transport and transaction
// layers, and diago's dialogs and media sessions; a registrar for the
// agents' phones (registrar.go, digest.go) and the OPTIONS keep-alive toward
// the trunk (keepalive.go). It accepts no call from outside (403: no toll
// fraud through the trunk); a call is only ever placed by Dial. It reports
// progress through a callback and knows nothing of events, streams or the
// bus: the service maps Progress to events. It must not import the
// service's domain packages nor any libs/ adapter.
package sip

import (
	"context"
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
	DefaultAgentRingTimeout   = 30 * time.Second
	DefaultContactRingTimeout = 45 * time.Second
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

// Config is the gateway's SIP configuration.
type Config struct {
	// Listen is the UDP host:port the SIP stack binds, e.g. 127.0.0.1:5060;
	// port 0 picks a free port (see Gateway.Addr). Bind a specific address in
	// production: it is also the address in Contact, Via and SDP.
	Listen string
	// Trunk is the host:port of the SIP trunk; a contact is dialled as
	// sip:<E.164 number>@<Trunk>.
	Trunk string
	// CallerID is the user part of From on both legs, e.g. "ringback".
	CallerID string
	// AgentRingTimeout and ContactRingTimeout: a leg not answered within is
	// cancelled (CANCEL) and counts as not answered. Zero means the default.
	AgentRingTimeout   time.Duration
	ContactRingTimeout time.Duration
	// KeepAlive is the interval of the OPTIONS probes toward the trunk
	// (see TrunkUp); zero disables them. DefaultKeepAlive suits a flag.
	KeepAlive time.Duration
	// Accounts are the agents' phones allowed to REGISTER: SIP user (the
	// agent id) -> digest password. Without accounts every REGISTER is
	// challenged and fails.
	Accounts map[string]string
	// TrunkUser and TrunkPassword answer a 401/407 challenge from the trunk
	// on the contact leg (digest, RFC 3261 22.2); empty: no credentials, a
	// challenge fails the call.
	TrunkUser     string
	TrunkPassword string
	// SourceRate is the out-of-dialog requests per second (REGISTER aside)
	// accepted from one source IP; more are dropped unanswered (flood and
	// toll-fraud scans, see ratelimit.go). Zero means DefaultSourceRate,
	// negative disables the limit.
	SourceRate int
	// SessionExpires is the session interval offered on every INVITE
	// (RFC 4028, sessiontimer.go); zero offers none. MinSE is the smallest
	// the gateway accepts (Min-SE), zero meaning MinSessionExpires.
	SessionExpires time.Duration
	MinSE          time.Duration
}

// Validate reports the first problem with the configuration.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("sip: listen %q: %w", c.Listen, err)
	}
	host, port, err := net.SplitHostPort(c.Trunk)
	if err != nil {
		return fmt.Errorf("sip: trunk %q: %w", c.Trunk, err)
	}
	if host == "" {
		return fmt.Errorf("sip: trunk %q: no host", c.Trunk)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return fmt.Errorf("sip: trunk %q: bad port", c.Trunk)
	}
	if c.CallerID == "" || !isToken(c.CallerID) {
		return fmt.Errorf("sip: caller id %q: want a SIP user name", c.CallerID)
	}
	if c.AgentRingTimeout < 0 || c.ContactRingTimeout < 0 {
		return errors.New("sip: negative ring timeout")
	}
	if c.KeepAlive < 0 {
		return errors.New("sip: negative keep-alive interval")
	}
	if c.SessionExpires < 0 || c.MinSE < 0 {
		return errors.New("sip: negative session interval")
	}
	if c.TrunkPassword != "" && (c.TrunkUser == "" || !isToken(c.TrunkUser)) {
		return fmt.Errorf("sip: trunk user %q: want a SIP user name with the trunk password", c.TrunkUser)
	}
	for user, password := range c.Accounts {
		if user == "" || !isToken(user) {
			return fmt.Errorf("sip: account %q: want a SIP user name", user)
		}
		if password == "" {
			return fmt.Errorf("sip: account %q: empty password", user)
		}
	}
	return nil
}

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

	reg   *registrar
	limit *sourceLimiter
	trunk trunkState

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
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	trunkHost, trunkPortStr, _ := net.SplitHostPort(cfg.Trunk) // validated
	trunkPort, _ := strconv.Atoi(trunkPortStr)

	listen := cfg.Listen
	if host, port, _ := net.SplitHostPort(listen); host == "" {
		// An empty host would bind [::] dual-stack; diago derives Contact and
		// SDP addresses from the bound host and handles IPv4 best.
		listen = net.JoinHostPort("0.0.0.0", port)
	}
	conn, err := net.ListenPacket("udp4", listen)
	if err != nil {
		return nil, fmt.Errorf("sip: listen %s: %w", cfg.Listen, err)
	}
	bound := conn.LocalAddr().(*net.UDPAddr)

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
		reg:       newRegistrar(cfg.Accounts, log),
		limit:     newSourceLimiter(cfg.SourceRate, log),
	}
	g.trunk.up.Store(true) // until the probes say otherwise
	if err := g.buildStack(bound); err != nil {
		conn.Close()
		return nil, err
	}
	return g, nil
}

func (g *Gateway) buildStack(bound *net.UDPAddr) error {
	libLog := slog.New(newLibHandler(g.log.Handler()))
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(g.cfg.CallerID),
		sipgo.WithUserAgentHostname(g.host),
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
	// The transport names the socket we bound: diago's client then sends
	// from it (sipgo reuses the listener for its bound address), so Via,
	// Contact and the source of every request are the one address phones and
	// the trunk can reach us at.
	g.dg = diago.NewDiago(ua,
		diago.WithServer(srv),
		diago.WithLogger(libLog),
		diago.WithTransport(diago.Transport{
			Transport: "udp",
			BindHost:  bound.IP.String(),
			BindPort:  bound.Port,
		}),
		// PCMU and PCMA on every leg, and RFC 4733 events for the DTMF keypad.
		diago.WithMediaConfig(diago.MediaConfig{
			Codecs: offeredCodecs(),
		}),
		diago.WithServerRequestMiddleware(g.screen),
	)
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
	if !bound.IP.IsUnspecified() {
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

	serveErr := make(chan error, 1)
	go func() { serveErr <- g.srv.ServeUDP(g.conn) }()

	err := g.waitServing(ctx, serveErr)
	if err != nil {
		serveErr = nil // waitServing received the serve result
	} else {
		close(g.ready)
		g.log.Info("sip: listening", "addr", g.addr, "trunk", g.cfg.Trunk)
		stopProbes := g.startKeepAlive()
		select {
		case <-ctx.Done():
			if err = g.waitKept(serveErr); err != nil {
				serveErr = nil
			}
		case err = <-serveErr:
			serveErr = nil
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
	g.conn.Close()
	if serveErr != nil {
		<-serveErr
	}
	return errors.Join(err, g.ua.Close())
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
