package mediagateway

import (
	"errors"
	"flag"
	"fmt"
	"net"

	"github.com/ringback/ringback/services/media-gateway/sip"
)

// SIPConfig is how the SIP adapter meets the network (issue 16, points 6 to
// 8): the TCP and TLS listeners beside --sip's UDP, the certificates, the
// trunk's transport, its verification and SRTP, the digest algorithms of the
// registrar and the limits per source. Apply puts it into a sip.Config.
type SIPConfig struct {
	TCP            string // TCP listen address; "": --sip's host:port; "off": none
	TLS            string // TLS listen address; "": --sip's host, port 5061, when TLSCert is set; "off": none
	TLSCert        string
	TLSKey         string
	TLSCA          string
	TLSInsecure    bool
	TrunkTransport string
	TrunkSRTP      bool
	Digest         string // comma list of digest algorithms, the realm's default
	MaxTx          int
	MaxConns       int
	MaxDialogs     int
}

// offListener turns a listener off.
const offListener = "off"

// defaultTLSPort is SIP over TLS's port (RFC 3261 19.1.2).
const defaultTLSPort = "5061"

// RegisterFlags registers the --media.sip-… flags.
func (c *SIPConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.TCP, "media.sip-tcp", "",
		`SIP over TCP listen address (RFC 3261 requires TCP of every element); empty: the --sip address; "off": none`)
	fs.StringVar(&c.TLS, "media.sip-tls", "",
		`SIP over TLS listen address; empty: --sip's host on port 5061 once --media.sip-tls-cert is given (TLS is off without a certificate); "off": none`)
	fs.StringVar(&c.TLSCert, "media.sip-tls-cert", "",
		"PEM certificate (chain) served on the SIP TLS listener and shown to a trunk that asks for a client certificate; empty: no TLS listener")
	fs.StringVar(&c.TLSKey, "media.sip-tls-key", "", "PEM private key of --media.sip-tls-cert")
	fs.StringVar(&c.TLSCA, "media.sip-tls-ca", "",
		"PEM CAs that verify the certificate of the trunk (and of any TLS peer the gateway connects to); empty: the system's roots. Names are always checked")
	fs.BoolVar(&c.TLSInsecure, "media.sip-tls-insecure-skip-verify", false,
		"DEVELOPMENT ONLY: accept any certificate from TLS peers (a self-signed test trunk); anyone on the path can then read and change the calls")
	fs.StringVar(&c.TrunkTransport, "media.trunk-transport", sip.TransportUDP,
		"how the trunk is reached: udp, tcp or tls (tls verifies its certificate and needs the TLS listener, where the trunk sends its requests)")
	fs.BoolVar(&c.TrunkSRTP, "media.trunk-srtp", false,
		"offer SRTP with SDES keys (RFC 4568) on every leg through the trunk; a trunk answering in clear fails the leg (488) rather than carry it unencrypted. Needs --media.trunk-transport=tls: the keys travel in the SDP")
	fs.StringVar(&c.Digest, "media.sip-digest", sip.AlgorithmMD5,
		`digest algorithms challenged on REGISTER for accounts that name none: MD5 (what deployed phones answer; Debian 12's baresip and many desk phones abort on anything else) or "SHA-256,MD5"; an account in --media.sip-accounts may set its own ("algorithms")`)
	fs.IntVar(&c.MaxTx, "media.sip-max-transactions-per-source", sip.DefaultMaxTransactionsPerSource,
		"SIP requests one source address may have in progress at once; beyond, 503 with Retry-After (the trunk is exempt); -1: no limit")
	fs.IntVar(&c.MaxConns, "media.sip-max-connections-per-source", sip.DefaultMaxConnectionsPerSource,
		"SIP TCP and TLS connections one source address may hold (an office's NAT holds one per phone); beyond, a new one is closed (the trunk is exempt); -1: no limit")
	fs.IntVar(&c.MaxDialogs, "media.sip-max-dialogs-per-source", sip.DefaultMaxDialogsPerSource,
		"calls the gateway has up at once with one phone's address; one more fails as busy (486) without ringing (the trunk is exempt); -1: no limit")
}

// Validate checks what can be checked without --sip.
func (c *SIPConfig) Validate() error {
	if _, err := sip.ParseAlgorithms(c.Digest); err != nil {
		return fmt.Errorf("media-gateway: --media.sip-digest: %w", err)
	}
	switch c.TrunkTransport {
	case sip.TransportUDP, sip.TransportTCP, sip.TransportTLS:
	default:
		return fmt.Errorf("media-gateway: --media.trunk-transport %q: want udp, tcp or tls", c.TrunkTransport)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("media-gateway: --media.sip-tls-cert and --media.sip-tls-key go together")
	}
	if c.TLS != "" && c.TLS != offListener && c.TLSCert == "" {
		return errors.New("media-gateway: --media.sip-tls needs --media.sip-tls-cert and --media.sip-tls-key")
	}
	if c.TrunkTransport == sip.TransportTLS && c.TLSCert == "" {
		return errors.New("media-gateway: --media.trunk-transport=tls needs the TLS listener: give --media.sip-tls-cert and --media.sip-tls-key")
	}
	if c.TrunkSRTP && c.TrunkTransport != sip.TransportTLS {
		return errors.New("media-gateway: --media.trunk-srtp needs --media.trunk-transport=tls: SDES keys travel in the SDP")
	}
	if c.MaxTx == 0 || c.MaxConns == 0 || c.MaxDialogs == 0 {
		return errors.New("media-gateway: per-source SIP limits must be positive, or -1 for none")
	}
	return nil
}

// Apply sets sc's transports, TLS, digest and limits; udp is --sip, whose
// host (and port, for TCP) the listeners default to.
func (c *SIPConfig) Apply(sc *sip.Config, udp string) error {
	host, port, err := net.SplitHostPort(udp)
	if err != nil {
		return fmt.Errorf("media-gateway: --sip %q: %w", udp, err)
	}
	switch c.TCP {
	case "":
		sc.ListenTCP = net.JoinHostPort(host, port)
	case offListener:
	default:
		sc.ListenTCP = c.TCP
	}
	switch {
	case c.TLS == offListener || c.TLSCert == "":
	case c.TLS == "":
		sc.ListenTLS = net.JoinHostPort(host, defaultTLSPort)
		if port == "0" { // tests and ad hoc runs: a free port for TLS too
			sc.ListenTLS = net.JoinHostPort(host, "0")
		}
	default:
		sc.ListenTLS = c.TLS
	}
	sc.TLSCertFile, sc.TLSKeyFile, sc.TLSCAFile = c.TLSCert, c.TLSKey, c.TLSCA
	sc.TLSInsecureSkipVerify = c.TLSInsecure
	sc.TrunkTransport, sc.TrunkSRTP = c.TrunkTransport, c.TrunkSRTP
	if sc.DigestAlgorithms, err = sip.ParseAlgorithms(c.Digest); err != nil {
		return fmt.Errorf("media-gateway: --media.sip-digest: %w", err)
	}
	sc.MaxTransactionsPerSource, sc.MaxConnectionsPerSource, sc.MaxDialogsPerSource = c.MaxTx, c.MaxConns, c.MaxDialogs
	if c.TrunkTransport == sip.TransportTCP && sc.ListenTCP == "" {
		return errors.New("media-gateway: --media.trunk-transport=tcp needs the TCP listener (--media.sip-tcp not off)")
	}
	return nil
}
