package webphone

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/srtp/v3"
	"github.com/pion/transport/v4/packetio"
)

// DTLS-SRTP (RFC 5764, RFC 8827): the browser and the gateway prove the
// certificates their SDP fingerprints name in a DTLS handshake on the ICE
// socket, whose keying material keys SRTP both ways. The handshake runs on
// pion/dtls; the media never passes through it.

// certificate is the gateway's self-signed DTLS certificate, one for the
// process (browsers pin it by the fingerprint in each answer, not by a
// chain), and its fingerprint line.
type certificate struct {
	tls         tls.Certificate
	fingerprint string
}

func newCertificate() (certificate, error) {
	c, err := selfsign.GenerateSelfSigned() // ECDSA P-256, as browsers make theirs
	if err != nil {
		return certificate{}, fmt.Errorf("webphone DTLS certificate: %w", err)
	}
	return certificate{tls: c, fingerprint: Fingerprint(c.Certificate[0])}, nil
}

// Fingerprint is an SDP fingerprint attribute's value for a DER
// certificate: "sha-256 AB:CD:…" (RFC 8122 5).
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	b.WriteString("sha-256 ")
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
}

// handshakeTimeout bounds the DTLS handshake once ICE has connected.
const handshakeTimeout = 30 * time.Second

// errFingerprint: the browser's certificate is not the one its offer named.
var errFingerprint = errors.New("DTLS certificate does not match the offer's fingerprint")

// handshake runs DTLS over the peer's socket, as the role the answer
// took, and keys SRTP; it then waits for the browser to close the
// association (a close_notify: the page closed its connection) and marks
// the peer failed.
func (pr *peer) handshake(cert certificate) {
	defer pr.wg.Done()
	opts := []dtls.Option{
		dtls.WithCertificates(cert.tls),
		dtls.WithSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80),
		dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
		// The certificate is self-signed: it is trusted because its hash
		// is the one the offer gave, which the signalling carried.
		dtls.WithInsecureSkipVerify(true),
		dtls.WithVerifyPeerCertificate(func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errFingerprint
			}
			sum := sha256.Sum256(raw[0])
			if subtle.ConstantTimeCompare(sum[:], pr.remoteSHA256[:]) != 1 {
				return errFingerprint
			}
			return nil
		}),
	}
	var (
		conn *dtls.Conn
		err  error
	)
	if pr.local.dtlsClient {
		conn, err = dtls.ClientWithOptions(pr.pipe, pr.pipe.remote(), toClient(opts)...)
	} else {
		conn, err = dtls.ServerWithOptions(pr.pipe, pr.pipe.remote(),
			append(toServer(opts), dtls.WithClientAuth(dtls.RequireAnyClientCert))...)
	}
	if err != nil {
		pr.failWith(fmt.Errorf("DTLS: %w", err))
		return
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	go func() { // the handshake ends with the peer
		select {
		case <-pr.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	err = conn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		pr.failWith(fmt.Errorf("DTLS handshake: %w", err))
		return
	}
	if err := pr.keySRTP(conn); err != nil {
		pr.failWith(err)
		return
	}
	// After the handshake only alerts come: a close_notify, or nothing
	// until the peer closes.
	buf := make([]byte, 1500)
	for {
		if _, err := conn.Read(buf); err != nil {
			pr.failWith(fmt.Errorf("DTLS: %w", err))
			return
		}
	}
}

// keySRTP derives both ways' SRTP contexts from the handshake.
func (pr *peer) keySRTP(conn *dtls.Conn) error {
	chosen, ok := conn.SelectedSRTPProtectionProfile()
	if !ok {
		return errors.New("DTLS: no SRTP profile negotiated")
	}
	var cfg srtp.Config
	switch chosen {
	case dtls.SRTP_AEAD_AES_128_GCM:
		cfg.Profile = srtp.ProtectionProfileAeadAes128Gcm
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		cfg.Profile = srtp.ProtectionProfileAes128CmHmacSha1_80
	default:
		return fmt.Errorf("DTLS: SRTP profile %#x not offered", chosen)
	}
	state, ok := conn.ConnectionState()
	if !ok {
		return errors.New("DTLS: no connection state after the handshake")
	}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, pr.local.dtlsClient); err != nil {
		return fmt.Errorf("SRTP keys: %w", err)
	}
	tx, err := srtp.CreateContext(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, cfg.Profile)
	if err != nil {
		return fmt.Errorf("SRTP send context: %w", err)
	}
	rx, err := srtp.CreateContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, cfg.Profile,
		srtp.SRTPReplayProtection(replayWindow))
	if err != nil {
		return fmt.Errorf("SRTP receive context: %w", err)
	}
	pr.keys.Store(&srtpKeys{tx: tx, rx: rx})
	return nil
}

// replayWindow is the SRTP replay protection's, in packets (RFC 3711 3.3.2
// asks at least 64).
const replayWindow = 64

// srtpKeys are a connected peer's SRTP contexts: rx is its reader's alone,
// tx is its sender's, under txMu.
type srtpKeys struct {
	tx, rx *srtp.Context
}

func toServer(opts []dtls.Option) []dtls.ServerOption {
	out := make([]dtls.ServerOption, len(opts))
	for i, o := range opts {
		out[i] = o
	}
	return out
}

func toClient(opts []dtls.Option) []dtls.ClientOption {
	out := make([]dtls.ClientOption, len(opts))
	for i, o := range opts {
		out[i] = o
	}
	return out
}

// DatagramPipe is a DTLS association's view of a socket that carries
// more than DTLS (ICE and SRTP share it, RFC 7983): the datagrams the
// socket's reader classed as DTLS, handed on with Deliver, and writes to
// wherever To says the other end is now. pion/dtls reads it as a
// net.PacketConn.
type DatagramPipe struct {
	buf   *packetio.Buffer
	write func(b []byte, to netip.AddrPort) (int, error)
	to    func() (netip.AddrPort, bool)
	local net.Addr
}

// NewDatagramPipe is a pipe that sends with write, on the socket whose
// address is local, to where to says.
func NewDatagramPipe(write func([]byte, netip.AddrPort) (int, error), local net.Addr, to func() (netip.AddrPort, bool)) *DatagramPipe {
	buf := packetio.NewBuffer()
	buf.SetLimitSize(64 << 10) // a handshake's flights, with room: more is dropped, and DTLS retransmits
	return &DatagramPipe{buf: buf, write: write, to: to, local: local}
}

// Deliver hands a DTLS datagram to the association (copied); a full pipe
// drops it, as a lossy network would.
func (p *DatagramPipe) Deliver(b []byte) { _, _ = p.buf.Write(b) }

func (p *DatagramPipe) remote() net.Addr {
	if a, ok := p.to(); ok {
		return net.UDPAddrFromAddrPort(a)
	}
	return &net.UDPAddr{}
}

func (p *DatagramPipe) ReadFrom(b []byte) (int, net.Addr, error) {
	n, err := p.buf.Read(b)
	if errors.Is(err, io.EOF) {
		return n, nil, net.ErrClosed
	}
	return n, p.remote(), err
}

func (p *DatagramPipe) WriteTo(b []byte, _ net.Addr) (int, error) {
	a, ok := p.to()
	if !ok {
		return 0, errors.New("no address for the other end yet")
	}
	return p.write(b, a)
}

// Close ends reads; the socket is its owner's to close.
func (p *DatagramPipe) Close() error                      { return p.buf.Close() }
func (p *DatagramPipe) LocalAddr() net.Addr               { return p.local }
func (p *DatagramPipe) SetDeadline(t time.Time) error     { return p.SetReadDeadline(t) }
func (p *DatagramPipe) SetReadDeadline(t time.Time) error { return p.buf.SetReadDeadline(t) }
func (*DatagramPipe) SetWriteDeadline(time.Time) error    { return nil }
