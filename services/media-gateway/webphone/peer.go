package webphone

import (
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago/media"
	"github.com/pion/rtp"
	"github.com/pion/stun/v3"
)

// peer is one browser connection of a call: its ICE-lite credentials on
// the browsers' port (mux), its DTLS association, and the SRTP between the
// browser and the leg. The port's reader does everything a packet asks
// inline (answer a check, hand DTLS to the handshake, open SRTP and write
// the RTP to the leg): a browser's audio costs a share of a batched read,
// one decryption and the leg's write, where a general WebRTC stack passed
// each packet through four goroutines and their buffers (issue 15's bench:
// 3 of a browser leg's 9 millicores).
type peer struct {
	mux   *mux
	conn  *net.UDPConn // the mux's, for writes
	local local
	// usernameWant is the USERNAME of the browser's checks.
	usernameWant string
	integrity    stun.MessageIntegrity
	remoteSHA256 [32]byte
	pt           uint8 // the browser's payload type for the leg's codec

	pipe *DatagramPipe
	// remote is the address the browser nominated (or, until it does, the
	// first it checked from): where DTLS and SRTP go.
	remote atomic.Pointer[netip.AddrPort]
	keys   atomic.Pointer[srtpKeys]
	// lastCheck is when the browser last proved it is there (a valid
	// check: consent, RFC 7675), in Unix nanoseconds; consent is how long
	// that lasts.
	lastCheck atomic.Int64
	consent   time.Duration
	// leg is where the browser's audio goes: the gateway's leg, once
	// bridged.
	leg atomic.Pointer[legMedia]

	txMu              sync.Mutex
	txPlain, txSealed []byte // one packet at a time
	// rxMu: one mux reader at a time handles the browser's packets (its
	// address may move to another reader's socket: a network change), so
	// its SRTP context, the leg's decoder and handshaken have one user.
	rxMu sync.Mutex
	// handshaken: the DTLS association was started.
	handshaken bool
	cert       certificate

	failed chan struct{}
	fail   sync.Once
	why    error
	done   chan struct{} // closed by close: the goroutines stop
	stop   sync.Once
	wg     sync.WaitGroup
}

// srtpOverhead is the most SRTP adds to a packet: the 16-byte GCM tag.
const srtpOverhead = 16

// Consent (RFC 7675): a browser checks its pair every 5 s or so; after
// consentTimeout without one (or without any since the answer), it is
// gone.
const consentTimeout = 30 * time.Second

// newPeer answers the browser's offer: credentials on the browsers' port,
// the answer naming its address, and the goroutines that serve the
// connection until close.
func (p *Phones) newPeer(offerSDP string, codec media.Codec) (*peer, string, error) {
	o, err := parseOffer(offerSDP, codec)
	if err != nil {
		return nil, "", err
	}
	ips := p.candidateIPs()
	if len(ips) == 0 {
		return nil, "", errors.New("webphone: no address to give the browser (no interface, and no --media.webrtc-ice-addresses)")
	}
	var ssrc [4]byte
	_, _ = crand.Read(ssrc[:])
	pr := &peer{mux: p.mux, conn: p.mux.conn, remoteSHA256: o.sha256, pt: o.pt, consent: p.consent, cert: p.cert,
		txPlain: make([]byte, 1500), txSealed: make([]byte, 0, 1500+srtpOverhead), failed: make(chan struct{}), done: make(chan struct{}),
		local: local{pwd: iceString(24), fingerprint: p.cert.fingerprint,
			// The browser offers actpass: the gateway is the DTLS server,
			// which spares the browser's first flight a round trip (RFC
			// 8842 5.3).
			dtlsClient: o.dtlsAsked == "passive", ssrc: binary.BigEndian.Uint32(ssrc[:])}}
	for _, ip := range ips {
		pr.local.candidates = append(pr.local.candidates, candidate{ip: ip, port: p.mux.port()})
	}
	pr.integrity = stun.NewShortTermIntegrity(pr.local.pwd)
	pr.pipe = NewDatagramPipe(pr.conn.WriteToUDPAddrPort, pr.conn.LocalAddr(), func() (netip.AddrPort, bool) {
		if a := pr.remote.Load(); a != nil {
			return *a, true
		}
		return netip.AddrPort{}, false
	})
	// Until its first check, the browser has as long as consent lasts to
	// connect.
	pr.lastCheck.Store(time.Now().UnixNano())
	p.mux.add(pr, func(ufrag string) {
		pr.local.ufrag, pr.usernameWant = ufrag, ufrag+":"+o.ufrag
	})
	pr.wg.Add(1)
	go pr.watch()
	return pr, o.answer(pr.local, codec, rand.Uint64()>>1), nil
}

// candidateIPs are the addresses the answer's host candidates give: the
// configured public ones, or the host's own IPv4 addresses (loopback only
// when asked).
func (p *Phones) candidateIPs() []string {
	if len(p.cfg.ICEAddresses) > 0 {
		return p.cfg.ICEAddresses
	}
	var out []string
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		p.log.Warn("webphone: list interfaces", "error", err)
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.To4() == nil || n.IP.IsLoopback() || n.IP.IsLinkLocalUnicast() {
			continue
		}
		out = append(out, n.IP.String())
	}
	if p.cfg.Loopback {
		out = append(out, "127.0.0.1")
	}
	return out
}

// receive is a DTLS or SRTP datagram from the browser's checked address,
// on the mux's reader: DTLS to the handshake, SRTP opened and written to
// the leg. RTCP is the browser's reports, which nothing here reads.
func (pr *peer) receive(in *inbound, b []byte) {
	pr.rxMu.Lock()
	defer pr.rxMu.Unlock()
	if packetKind(b) == kindDTLS {
		pr.pipe.Deliver(b)
		return
	}
	keys := pr.keys.Load()
	if keys == nil || isRTCP(b) {
		return
	}
	opened, err := keys.rx.DecryptRTP(in.plain[:0], b, &in.hdr)
	if err != nil || in.hdr.PayloadType != pr.pt {
		return // a replay, a forgery, or not the call's audio
	}
	in.plain = opened[:0]
	if leg := pr.leg.Load(); leg != nil {
		leg.write(&in.pkt, &in.hdr, opened[in.hdr.MarshalSize():])
	}
}

// send seals one packet of the leg's audio to the browser: the peer's
// SSRC and payload type, the leg's sequence and timestamps. Before the
// browser connected it is dropped.
func (pr *peer) send(marker bool, seq uint16, ts uint32, payload []byte) {
	keys, to := pr.keys.Load(), pr.remote.Load()
	if keys == nil || to == nil {
		return
	}
	pr.txMu.Lock()
	defer pr.txMu.Unlock()
	h := rtp.Header{Version: 2, Marker: marker, PayloadType: pr.pt, SequenceNumber: seq, Timestamp: ts, SSRC: pr.local.ssrc}
	n, err := h.MarshalTo(pr.txPlain)
	if err != nil || n+len(payload) > len(pr.txPlain) {
		return
	}
	plain := pr.txPlain[:n+copy(pr.txPlain[n:], payload)]
	sealed, err := keys.tx.EncryptRTP(pr.txSealed[:0], plain, &h)
	if err != nil {
		return
	}
	pr.txSealed = sealed[:0]                       // kept, should a long packet have grown it
	_, _ = pr.conn.WriteToUDPAddrPort(sealed, *to) // UDP: a loss is the network's
}

// watch marks the peer failed when the browser stops checking (consent
// expired: the page or its network is gone without a close).
func (pr *peer) watch() {
	defer pr.wg.Done()
	t := time.NewTicker(pr.consent / 30)
	defer t.Stop()
	for {
		select {
		case <-pr.done:
			return
		case <-t.C:
			if time.Since(time.Unix(0, pr.lastCheck.Load())) > pr.consent {
				pr.failWith(errors.New("the browser stopped answering (ICE consent expired)"))
				return
			}
		}
	}
}

// failWith marks the connection gone, once, with why.
func (pr *peer) failWith(err error) {
	pr.fail.Do(func() {
		pr.why = err
		close(pr.failed)
	})
}

// bridge sends the browser's audio to the gateway's leg from now on (the
// other way is the call's own pump, toBrowser).
func (pr *peer) bridge(leg *legMedia) { pr.leg.Store(leg) }

// close ends the connection: the port forgets it, its handshake and
// watch stop, and its audio no longer reaches the leg.
func (pr *peer) close() {
	pr.stop.Do(func() {
		close(pr.done)
		pr.mux.remove(pr)
		_ = pr.pipe.Close()
		// A reader that found the connection before it was removed may be
		// in receive: wait for it, and leave it no leg to write to, so the
		// connection replacing this one is the leg's only writer.
		pr.rxMu.Lock()
		pr.leg.Store(nil)
		pr.rxMu.Unlock()
	})
}

// closed says whether close was called.
func (pr *peer) closed() bool {
	select {
	case <-pr.done:
		return true
	default:
		return false
	}
}

func (pr *peer) wait() { pr.wg.Wait() }
