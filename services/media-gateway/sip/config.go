package sip

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/ringback/ringback/services/media-gateway/rtplink"
)

// Config is the gateway's SIP configuration.
type Config struct {
	// Listen is the UDP host:port the SIP stack binds, e.g. 127.0.0.1:5060;
	// port 0 picks a free port (see Gateway.Addr). Bind a specific address in
	// production: it is also the address in Contact, Via and SDP.
	Listen string
	// WebPhones is the host:port of the browsers' phones (package webphone):
	// an agent URI webrtc:<agent> rings sip:<agent>@WebPhones. Empty: no
	// browser is a phone, and such an agent is not available.
	WebPhones string
	// Links, when set, carries the RTP of legs to WebPhones in this process
	// (package rtplink), as the browsers' phones are: both must be given
	// the same registry. Nil: over loopback UDP, as any phone's.
	Links *rtplink.Registry
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
	// agent id) -> password and digest algorithms. Without accounts every
	// REGISTER is challenged and fails.
	Accounts map[string]Account
	// DigestAlgorithms are challenged for accounts that name none (and for
	// unknown users); nil means DefaultDigestAlgorithms, MD5 alone.
	DigestAlgorithms []string
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

	// ListenTCP and ListenTLS are the TCP and TLS host:port served besides
	// Listen; empty: not served. Port 0 picks a free port (AddrTCP,
	// AddrTLS). TLS needs TLSCertFile and TLSKeyFile (PEM), also presented
	// to a trunk that asks for a client certificate.
	ListenTCP   string
	ListenTLS   string
	TLSCertFile string
	TLSKeyFile  string
	// TrunkTransport is how the trunk is reached: "udp" (empty), "tcp" or
	// "tls"; tcp and tls need the matching listener.
	TrunkTransport string
	// TLSCAFile (PEM) holds the CAs that verify the certificate of every
	// TLS peer the gateway connects to, the trunk's above all; empty: the
	// system's roots. TLSInsecureSkipVerify accepts any certificate: for
	// development against a self-signed trunk only, never in production.
	TLSCAFile             string
	TLSInsecureSkipVerify bool
	// TrunkSRTP offers SRTP with SDES keys (RFC 4568) on every leg through
	// the trunk; a trunk answering without a key fails the leg (no silent
	// fall-back to clear RTP). The keys travel in the SDP, so it needs the
	// trunk over TLS.
	TrunkSRTP bool
	// MaxTransactionsPerSource bounds one source's requests in progress;
	// beyond, 503 with Retry-After. MaxConnectionsPerSource bounds its TCP
	// and TLS connections (an office's NAT holds one per phone); beyond, a
	// new one is closed. MaxDialogsPerSource bounds the legs toward one
	// phone's address; beyond, the leg fails as 486. Zero means the
	// defaults, negative no limit; the trunk is exempt (limits.go).
	MaxTransactionsPerSource int
	MaxConnectionsPerSource  int
	MaxDialogsPerSource      int
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
	if err := c.validTransports(); err != nil {
		return err
	}
	if c.DigestAlgorithms != nil {
		if _, err := normalizeAlgorithms(c.DigestAlgorithms); err != nil {
			return fmt.Errorf("sip: realm default: %w", err)
		}
	}
	for user, a := range c.Accounts {
		if user == "" || !isToken(user) {
			return fmt.Errorf("sip: account %q: want a SIP user name", user)
		}
		if a.Password == "" {
			return fmt.Errorf("sip: account %q: empty password", user)
		}
		if a.Algorithms != nil {
			if _, err := normalizeAlgorithms(a.Algorithms); err != nil {
				return fmt.Errorf("sip: account %q: %w", user, err)
			}
		}
	}
	return nil
}
