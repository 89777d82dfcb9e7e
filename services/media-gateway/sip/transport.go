package sip

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/emiago/diago"
	sipgosip "github.com/emiago/sipgo/sip"
)

// SIP over TCP and TLS besides UDP (issue 16, point 8; RFC 3261 18 requires
// TCP of every element). sipgo serves each listener we bind; diago has one
// transport per protocol, so a leg is placed over the transport its URI
// names (transport=tcp|tls), the trunk over Config.TrunkTransport. A phone
// that registered over TCP or TLS without naming a transport in its Contact
// gets the one it registered over, and a phone behind NAT is rung over the
// connection it registered on (registrar.go, flowTo).
//
// Every TLS connection the gateway opens verifies its peer's certificate
// and name against Config.TLSCAFile (or the system's roots): the trunk's
// above all. Config.TLSInsecureSkipVerify turns that off for development
// against a self-signed trunk and nothing else.

// Transports a leg or the trunk may use.
const (
	TransportUDP = "udp"
	TransportTCP = "tcp"
	TransportTLS = "tls"
)

// validTransports checks the transport fields of c.
func (c Config) validTransports() error {
	switch c.TrunkTransport {
	case "", TransportUDP:
	case TransportTCP:
		if c.ListenTCP == "" {
			return errors.New("sip: a trunk over tcp needs a TCP listener (the trunk sends its requests to our Contact)")
		}
	case TransportTLS:
		if c.ListenTLS == "" {
			return errors.New("sip: a trunk over tls needs a TLS listener, with its certificate (the trunk sends its requests to our Contact)")
		}
	default:
		return fmt.Errorf("sip: trunk transport %q: want udp, tcp or tls", c.TrunkTransport)
	}
	if c.TrunkSRTP && c.TrunkTransport != TransportTLS {
		return errors.New("sip: SRTP to the trunk needs the trunk over tls: SDES keys travel in the SDP")
	}
	for name, addr := range map[string]string{"tcp": c.ListenTCP, "tls": c.ListenTLS} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("sip: listen %s %q: %w", name, addr, err)
		}
	}
	if c.ListenTLS != "" && (c.TLSCertFile == "" || c.TLSKeyFile == "") {
		return errors.New("sip: a TLS listener needs a certificate and its key")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("sip: TLS certificate and key go together")
	}
	return nil
}

// tlsConfigs loads the certificate served (nil without one) and the client
// configuration every TLS connection we open uses.
func (c Config) tlsConfigs() (server, client *tls.Config, err error) {
	client = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.TLSInsecureSkipVerify} //nolint:gosec // a documented development flag
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("sip: tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("sip: tls ca %s: no PEM certificate", c.TLSCAFile)
		}
		client.RootCAs = pool
	}
	if c.TLSCertFile == "" {
		return nil, client, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("sip: tls certificate: %w", err)
	}
	server = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	// A trunk that wants mutual TLS gets the same certificate.
	client.Certificates = []tls.Certificate{cert}
	return server, client, nil
}

// streamListeners are the TCP and TLS listeners; nil when not served.
type streamListeners struct {
	tcp, tls         net.Listener
	addrTCP, addrTLS string
}

// listenStreams binds the TCP and TLS listeners of cfg. On error nothing
// stays bound.
func listenStreams(cfg Config, serverTLS *tls.Config, limit *sourceCounter) (*streamListeners, error) {
	s := &streamListeners{}
	if cfg.ListenTCP != "" {
		l, err := net.Listen("tcp4", anyHost(cfg.ListenTCP))
		if err != nil {
			return nil, fmt.Errorf("sip: listen tcp %s: %w", cfg.ListenTCP, err)
		}
		s.tcp, s.addrTCP = limit.wrap(l), l.Addr().String()
	}
	if cfg.ListenTLS != "" {
		l, err := net.Listen("tcp4", anyHost(cfg.ListenTLS))
		if err != nil {
			s.close()
			return nil, fmt.Errorf("sip: listen tls %s: %w", cfg.ListenTLS, err)
		}
		// Connections are counted before the handshake: a source opening
		// handshakes it never finishes is held to its share too.
		s.tls, s.addrTLS = tls.NewListener(limit.wrap(l), serverTLS), l.Addr().String()
	}
	return s, nil
}

func (s *streamListeners) close() {
	for _, l := range []net.Listener{s.tcp, s.tls} {
		if l != nil {
			_ = l.Close()
		}
	}
}

// anyHost: an empty host would bind [::] dual-stack; diago derives Contact
// and SDP addresses from the bound host and handles IPv4 best.
func anyHost(addr string) string {
	if host, port, _ := net.SplitHostPort(addr); host == "" {
		return net.JoinHostPort("0.0.0.0", port)
	}
	return addr
}

// diagoTransports are the transports diago places legs over: UDP first (its
// default), then each stream listener, whose port goes in Contact.
func (g *Gateway) diagoTransports(bound *net.UDPAddr) []diago.Transport {
	host := bound.IP.String()
	ts := []diago.Transport{{Transport: TransportUDP, BindHost: host, BindPort: bound.Port}}
	// Over TCP and TLS, in-dialog requests go where the answer came from
	// (sipgo's RewriteContact): the connection the INVITE went over, which
	// for a phone behind NAT is the only way in.
	if g.streams.tcp != nil {
		ts = append(ts, diago.Transport{Transport: TransportTCP, BindHost: host, BindPort: portOf(g.streams.addrTCP),
			RewriteContact: true})
	}
	if g.streams.tls != nil {
		// sip: with transport=tls in Contact, not sips: (RFC 5630 3.3):
		// sips would promise TLS on every hop behind the peer too.
		ts = append(ts, diago.Transport{Transport: TransportTLS, BindHost: host, BindPort: portOf(g.streams.addrTLS),
			TLSConf: g.serverTLS, TLSURINoSIPS: true, RewriteContact: true})
		if g.cfg.TrunkSRTP {
			// The same listener, but legs placed over it offer SRTP: diago
			// sets media security per transport, and phones are not asked.
			ts = append(ts, diago.Transport{ID: trunkSRTPTransport, Transport: TransportTLS, BindHost: host,
				BindPort: portOf(g.streams.addrTLS), TLSConf: g.serverTLS, TLSURINoSIPS: true, MediaSRTP: 1,
				RewriteContact: true})
		}
	}
	return ts
}

// trunkSRTPTransport is the diago transport of the trunk's legs with SRTP.
const trunkSRTPTransport = "trunk-srtp"

// dialogOptions picks the transport of a leg to u.
func (g *Gateway) dialogOptions(u sipgosip.Uri) diago.NewDialogOptions {
	if g.cfg.TrunkSRTP && g.isTrunk(u) {
		return diago.NewDialogOptions{TransportID: trunkSRTPTransport}
	}
	return diago.NewDialogOptions{Transport: g.legTransport(u)}
}

// srtpAnswered reports whether an answer's SDP keyed SRTP (a=crypto on a
// secure profile): without it diago would carry on in clear.
func srtpAnswered(res *sipgosip.Response) bool {
	if res == nil {
		return false
	}
	body := string(res.Body())
	return strings.Contains(body, "RTP/SAVP") && strings.Contains(body, "a=crypto:")
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	var port int
	_, _ = fmt.Sscan(p, &port)
	return port
}

// legTransport is the transport a leg to u is placed over: the one u names,
// the trunk's for the trunk, else UDP.
func (g *Gateway) legTransport(u sipgosip.Uri) string {
	if u.UriParams != nil {
		if t, ok := u.UriParams.Get("transport"); ok && t != "" {
			return strings.ToLower(t)
		}
	}
	if g.isTrunk(u) {
		return g.trunkTransport()
	}
	return TransportUDP
}

// trunkTransport is how the trunk is reached: Config.TrunkTransport, UDP
// when unset.
func (g *Gateway) trunkTransport() string {
	if g.cfg.TrunkTransport == "" {
		return TransportUDP
	}
	return g.cfg.TrunkTransport
}

func (g *Gateway) isTrunk(u sipgosip.Uri) bool {
	port := u.Port
	if port == 0 {
		port = 5060
	}
	return strings.EqualFold(u.Host, g.trunkHost) && port == g.trunkPort
}

// AddrTCP and AddrTLS are the bound TCP and TLS host:port, "" when not
// served.
func (g *Gateway) AddrTCP() string { return g.streams.addrTCP }

// AddrTLS: see AddrTCP.
func (g *Gateway) AddrTLS() string { return g.streams.addrTLS }
