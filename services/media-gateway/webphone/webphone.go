// Package webphone makes an agent's browser a phone the media gateway can
// ring. It is a SIP user agent on a loopback port, in the gateway's
// process, whose "phones" are WebRTC peer connections: the gateway INVITEs
// sip:<agent>@<its address> like any agent's phone (so the leg is bridged,
// held, muted, recorded and conferenced as any other), the INVITE rings
// (180) until the agent's browser posts its SDP offer (Offer), and the
// answer to both sides joins the browser's DTLS-SRTP audio to the SIP leg's
// RTP. Audio payloads pass through untouched: the browser and the gateway
// both speak Opus (the gateway transcodes to the contact's G.711 in its
// bridge), or both PCMU when the gateway was built without libopus.
package webphone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/ringback/ringback/services/media-gateway/rtplink"
)

// CallHeader carries the gateway's call attempt id in its INVITEs
// (sip.callHeader): the browser names the call it answers by it.
const CallHeader = "X-Ringback-Call"

// Errors of Offer and Hangup, for the HTTP adapter to map.
var (
	// ErrNoRing: no call of that id rings (or is up on) this agent's browser here.
	ErrNoRing = errors.New("no such call ringing for this agent")
	// ErrBadOffer: the SDP is not an offer a peer connection takes.
	ErrBadOffer = errors.New("bad SDP offer")
	// ErrAnswered: another offer for the call is being answered.
	ErrAnswered = errors.New("call answered already")
)

// Config of the browsers' phones.
type Config struct {
	// Listen is the UDP address of the SIP side, loopback: the gateway
	// INVITEs sip:<agent>@Listen. Port 0 picks one.
	Listen string
	// RingTimeout bounds the wait for the browser's offer; the gateway's
	// agent ring timeout normally ends the ring first (CANCEL).
	RingTimeout time.Duration
	// ReconnectGrace is how long a call answered in a browser stays up
	// when the browser's connection goes without hanging up (a reload, a
	// network change), for the agent's desktop to take it back with a new
	// offer; 0: the call ends with the connection.
	ReconnectGrace time.Duration
	// ICEAddresses, when set, are the addresses the host candidates give
	// (a 1:1 NAT's public address); empty: the host's interfaces.
	ICEAddresses []string
	// Loopback adds loopback candidates: a browser on the same host
	// (development, tests).
	Loopback bool
	// Links, when set, carries the RTP between the browsers' phones and the
	// gateway in process (package rtplink): the gateway's sip.Config.Links
	// must be the same registry. Nil: over the loopback UDP of the SIP legs.
	Links *rtplink.Registry
	// Port is the one UDP port of every browser connection's media (ICE,
	// DTLS, SRTP): a firewall opens it alone. 0: the first free one in
	// PortMin-PortMax, or, with neither, any.
	Port, PortMin, PortMax uint16
}

// Phones is the SIP user agent of the browsers' phones.
type Phones struct {
	cfg  Config
	log  *slog.Logger
	cert certificate
	mux  *mux // the browsers' UDP port
	// consent is how long a browser connection lasts without a check
	// (consentTimeout; tests shorten it).
	consent time.Duration
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	conn    net.PacketConn

	mu    sync.Mutex
	rings map[ringKey]*ring
}

// ringKey names a ring: a call rings an agent's browser once, and may ring
// a consulted colleague's beside it.
type ringKey struct{ agent, call string }

// New binds the SIP side; Run serves it.
func New(cfg Config, log *slog.Logger) (*Phones, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.RingTimeout <= 0 {
		cfg.RingTimeout = time.Minute
	}
	cert, err := newCertificate()
	if err != nil {
		return nil, err
	}
	m, err := listenMux(cfg.Port, cfg.PortMin, cfg.PortMax, runtime.GOMAXPROCS(0))
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenPacket("udp4", cfg.Listen)
	if err != nil {
		_ = m.close()
		return nil, fmt.Errorf("webphone listen %s: %w", cfg.Listen, err)
	}
	host, portStr, _ := net.SplitHostPort(conn.LocalAddr().String())
	port, _ := strconv.Atoi(portStr)
	quiet := slog.New(slog.DiscardHandler)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("ringback-webphone"), sipgo.WithUserAgentHostname(host),
		sipgo.WithUserAgentTransactionLayerOptions(sipgosip.WithTransactionLayerLogger(quiet),
			sipgosip.WithTransactionLayerUnhandledResponseHandler(func(*sipgosip.Response) {})),
		sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(quiet)))
	if err != nil {
		conn.Close()
		_ = m.close()
		return nil, fmt.Errorf("webphone UA: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		conn.Close()
		ua.Close()
		_ = m.close()
		return nil, fmt.Errorf("webphone server: %w", err)
	}
	p := &Phones{cfg: cfg, log: log, cert: cert, mux: m, consent: consentTimeout, ua: ua, srv: srv, conn: conn, rings: map[ringKey]*ring{}}
	dg := diago.NewDiago(ua, diago.WithServer(srv), diago.WithLogger(quiet),
		diago.WithTransport(diago.Transport{Transport: "udp", BindHost: host, BindPort: port}))
	dg.HandleFunc(p.serve)
	return p, nil
}

// Links is the registry the phones join their legs' links in (nil: none):
// the gateway's sip.Config.Links.
func (p *Phones) Links() *rtplink.Registry { return p.cfg.Links }

// Addr is the SIP side's host:port.
func (p *Phones) Addr() string { return p.conn.LocalAddr().String() }

// Close releases the socket and user agent of Phones whose Run was never
// called (their service failed to start); Run releases them itself.
func (p *Phones) Close() error { return errors.Join(p.conn.Close(), p.ua.Close(), p.mux.close()) }

// MediaPort is the browsers' UDP port (Config.Port).
func (p *Phones) MediaPort() int { return p.mux.port() }

// Run serves the SIP side until ctx is done, then hangs up the browsers'
// calls (their BYE goes out first).
func (p *Phones) Run(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- p.srv.ServeUDP(p.conn) }()
	muxed := make(chan struct{})
	go func() {
		defer close(muxed)
		p.mux.run()
	}()
	defer func() {
		_ = p.mux.close() // ends run
		<-muxed
	}()
	select {
	case <-ctx.Done():
	case err := <-done:
		_ = p.ua.Close() // the serve error is the news
		return fmt.Errorf("webphone serve: %w", err)
	}
	p.mu.Lock()
	rings := make([]*ring, 0, len(p.rings))
	for _, r := range p.rings {
		rings = append(rings, r)
	}
	p.mu.Unlock()
	for _, r := range rings {
		r.hangup()
	}
	for _, r := range rings {
		<-r.over
	}
	_ = p.conn.Close() // ends ServeUDP
	if err := <-done; err != nil {
		p.log.Debug("webphone: listener ended", "error", err) // on the closed socket: no news
	}
	// Its transports may hold the socket closed above: closing them again
	// reports that, which is no failure of a phone that stopped.
	_ = p.ua.Close()
	return nil
}

// Ringing lists the calls ringing on the agent's browser here, by id.
func (p *Phones) Ringing(agent string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for k, r := range p.rings {
		if k.agent == agent && !r.isAnswered() && !r.hungUp() {
			out = append(out, k.call)
		}
	}
	return out
}

// Has says whether the call rings or is up on a browser here: the HTTP
// adapter forwards an offer for any other call to its owner.
func (p *Phones) Has(call string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range p.rings {
		if k.call == call {
			return true
		}
	}
	return false
}

// Offer answers the call ringing on the agent's browser with the browser's
// SDP offer: it returns the SDP answer once the gateway's leg is answered.
// For a call already answered, the new connection replaces the browser's
// old one (the desktop reloaded mid-call), within the reconnect grace once
// the old one is gone.
func (p *Phones) Offer(ctx context.Context, agent, call, sdp string) (string, error) {
	r := p.ring(agent, call)
	if r == nil {
		return "", ErrNoRing
	}
	o := offer{sdp: sdp, reply: make(chan answer, 1)}
	select {
	case r.offers <- o:
	case <-r.over:
		return "", ErrNoRing
	case <-ctx.Done():
		return "", ctx.Err()
	default:
		return "", ErrAnswered
	}
	select {
	case a := <-o.reply:
		return a.sdp, a.err
	case <-r.over: // the ring ended before it took this offer
		return "", ErrNoRing
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Hangup declines the call ringing on the agent's browser, or hangs it up.
func (p *Phones) Hangup(agent, call string) error {
	r := p.ring(agent, call)
	if r == nil {
		return ErrNoRing
	}
	r.hangup()
	return nil
}

func (p *Phones) ring(agent, call string) *ring {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rings[ringKey{agent: agent, call: call}]
}
