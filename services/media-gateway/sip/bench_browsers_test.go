//go:build opus

package sip_test

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/stun/v3"
	"golang.org/x/net/ipv4"
	"gopkg.in/hraban/opus.v2"

	"github.com/ringback/ringback/services/media-gateway/webphone"
)

// benchBrowsers are the load bench's browsers (issue 15): as lean as its
// SIP phones (uaMedia), so that the run compares the gateway's cost of a
// browser leg with its cost of a SIP leg, not pion's cost of a simulated
// browser with a Go UA's. Each is a real WebRTC endpoint to the gateway:
// it offers Opus over UDP/TLS/RTP/SAVPF, checks and nominates the
// gateway's ICE-lite candidate (and keeps consent), runs a DTLS client
// handshake that pins the gateway's fingerprint, and seals and opens SRTP
// with the keys it exports. Like the SIP phones, all of them share one
// socket, send in 250 µs slots with sendmmsg and read with recvmmsg; each
// connection has an address of its own, as a browser's does (the gateway
// tells connections apart by it on its one port): a loopback address of
// 127.1.0.0/16, chosen per datagram (IP_PKTINFO). The tests' other browsers are pion peer connections (webphone_browser_test)
// and Chromium (cmd/ringback/e2e), which prove the gateway speaks to
// complete stacks.
type benchBrowsers struct {
	conn *net.UDPConn
	pc   *ipv4.PacketConn // for single datagrams: checks and DTLS
	io   *mmsgConn
	cert tls.Certificate
	fp   string // the offer's fingerprint line
	tone [][]byte
	// heard times each frame a browser receives.
	heard *seqMeter

	addrMu sync.RWMutex
	byAddr map[[4]byte]*benchBrowserConn // by each one's own address
	mu     sync.Mutex                    // the sender's, over slots
	slots  [][]*benchBrowserConn

	quit chan struct{}
	wg   sync.WaitGroup
}

// benchBrowserConn is one browser's connection to the gateway.
type benchBrowserConn struct {
	bb         *benchBrowsers
	id         uint32
	ip         [4]byte // its own address
	from       []byte  // the control message that sends from it
	remote     netip.AddrPort
	to         *sockaddr
	ufrag, pwd string // ours
	rUfrag     string
	rIntegrity stun.MessageIntegrity
	rSHA256    [sha256.Size]byte
	pt         uint8
	bandwidth  opus.Bandwidth // the most the answer's maxplaybackrate allows
	checked    chan struct{}
	checkOnce  sync.Once
	pipe       *webphone.DatagramPipe
	dtls       *dtls.Conn
	tx, rx     *srtp.Context // the sender's and the receiver's alone
	open       atomic.Bool   // SRTP keyed
	slot       int
	ssrc       uint32
	seq        uint16
	ts         uint32
	frame      int
	plain      [1500]byte
	sealed     []byte
	consent    []byte // a binding request, resent every consentEvery frames
}

// consentEvery is how often, in frames, a browser repeats its check (a
// browser's consent freshness runs every 5 s or so, RFC 7675 5.1).
const consentEvery = 200

func startBenchBrowsers(tone [][]byte, heard *seqMeter) (*benchBrowsers, error) {
	// Every address: the connections' are 127.1.x.y. Only loopback
	// traffic reaches it in the bench.
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadBuffer(4 << 20)
	io, err := newMmsgConn(conn, 64, 1500)
	if err != nil {
		conn.Close()
		return nil, err
	}
	io.enableTimestamps()
	if !io.enableDestinations() {
		conn.Close()
		return nil, errors.New("the bench's browsers need IP_PKTINFO (Linux)")
	}
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		conn.Close()
		return nil, err
	}
	bb := &benchBrowsers{conn: conn, pc: ipv4.NewPacketConn(conn), io: io, cert: cert, fp: webphone.Fingerprint(cert.Certificate[0]), tone: tone,
		heard: heard, byAddr: map[[4]byte]*benchBrowserConn{}, slots: make([][]*benchBrowserConn, slotsPerFrame),
		quit: make(chan struct{})}
	bb.wg.Add(2)
	go bb.send()
	go bb.receive()
	return bb, nil
}

func (bb *benchBrowsers) close() {
	close(bb.quit)
	bb.conn.Close()
	bb.wg.Wait()
}

// offer is a browser's SDP offer: Opus, BUNDLE, rtcp-mux, DTLS actpass.
// It names no candidate: the gateway is ICE-lite and learns the browser's
// address from its checks (as it does a browser's mDNS candidates).
func (bb *benchBrowsers) offer(ufrag, pwd string) string {
	return "v=0\r\no=- " + strconv.FormatUint(rand.Uint64()>>1, 10) + " 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
		"a=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n" +
		"a=ice-ufrag:" + ufrag + "\r\na=ice-pwd:" + pwd + "\r\na=fingerprint:" + bb.fp + "\r\n" +
		"a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\n" +
		"a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
}

// connect offers a connection for the call ringing (or up) on the agent's
// browser, and returns it once SRTP is keyed and sending.
func (bb *benchBrowsers) connect(ctx context.Context, phones *webphone.Phones, agent, call string, id uint32) (*benchBrowserConn, error) {
	c := &benchBrowserConn{bb: bb, id: id, ufrag: randICE(8), pwd: randICE(24), checked: make(chan struct{}),
		ip: [4]byte{127, 1, byte(id >> 8), byte(id)}, ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), ts: rand.Uint32(),
		sealed: make([]byte, 0, 1500)}
	c.from = sourceAddr(c.ip)
	answer, err := phones.Offer(ctx, agent, call, bb.offer(c.ufrag, c.pwd))
	if err != nil {
		return nil, fmt.Errorf("offer: %w", err)
	}
	if err := c.readAnswer(answer); err != nil {
		return nil, err
	}
	if c.to, err = sockaddr4(net.UDPAddrFromAddrPort(c.remote)); err != nil {
		return nil, err
	}
	c.pipe = webphone.NewDatagramPipe(c.write, &net.UDPAddr{IP: c.ip[:], Port: bb.conn.LocalAddr().(*net.UDPAddr).Port},
		func() (netip.AddrPort, bool) { return c.remote, true })
	bb.addrMu.Lock()
	bb.byAddr[c.ip] = c
	bb.addrMu.Unlock()
	if err := c.check(ctx); err != nil {
		c.close()
		return nil, err
	}
	if err := c.handshake(ctx); err != nil {
		c.close()
		return nil, err
	}
	c.slot = int(time.Now().UnixNano() / int64(sendSlot) % int64(slotsPerFrame))
	bb.mu.Lock()
	bb.slots[c.slot] = append(bb.slots[c.slot], c)
	bb.mu.Unlock()
	return c, nil
}

// readAnswer takes what the browser needs of the gateway's answer: its
// ICE credentials, fingerprint and loopback candidate, and the payload
// type and playback rate of Opus.
func (c *benchBrowserConn) readAnswer(sdp string) error {
	var pwd, fp string
	for _, line := range strings.Split(sdp, "\r\n") {
		k, v, _ := strings.Cut(strings.TrimPrefix(line, "a="), ":")
		switch {
		case k == "ice-ufrag":
			c.rUfrag = v
		case k == "ice-pwd":
			pwd = v
		case k == "fingerprint":
			fp = v
		case k == "candidate":
			f := strings.Fields(v)
			if len(f) >= 6 && f[4] == "127.0.0.1" {
				port, _ := strconv.Atoi(f[5])
				c.remote = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
			}
		case k == "rtpmap" && strings.Contains(strings.ToLower(v), "opus/48000"):
			pt, _ := strconv.Atoi(strings.Fields(v)[0])
			c.pt = uint8(pt)
		}
	}
	c.bandwidth = opusBandwidth(sdp)
	if c.rUfrag == "" || pwd == "" || !strings.HasPrefix(fp, "sha-256 ") || !c.remote.IsValid() || c.pt == 0 {
		return fmt.Errorf("answer lacks ICE credentials, a fingerprint, a loopback candidate or Opus:\n%s", sdp)
	}
	c.rIntegrity = stun.NewShortTermIntegrity(pwd)
	hexed := strings.ReplaceAll(strings.TrimPrefix(fp, "sha-256 "), ":", "")
	for i := range c.rSHA256 {
		b, err := strconv.ParseUint(hexed[2*i:2*i+2], 16, 8)
		if err != nil {
			return fmt.Errorf("answer's fingerprint %q: %w", fp, err)
		}
		c.rSHA256[i] = byte(b)
	}
	return nil
}

// check nominates the gateway's candidate: a binding request with
// USE-CANDIDATE, as the controlling agent, resent until answered.
func (c *benchBrowserConn) check(ctx context.Context) error {
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest,
		stun.NewUsername(c.rUfrag+":"+c.ufrag), ice.UseCandidate(),
		ice.AttrControlling(rand.Uint64()), ice.PriorityAttr(1<<24), c.rIntegrity, stun.Fingerprint)
	if err != nil {
		return err
	}
	c.consent = req.Raw
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if _, err := c.write(req.Raw, c.remote); err != nil {
			return err
		}
		select {
		case <-c.checked:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("ICE check of %s: %w", c.remote, ctx.Err())
		case <-t.C:
		}
	}
}

// write sends one datagram from the connection's own address.
func (c *benchBrowserConn) write(b []byte, to netip.AddrPort) (int, error) {
	return c.bb.pc.WriteTo(b, &ipv4.ControlMessage{Src: c.ip[:]}, net.UDPAddrFromAddrPort(to))
}

// answered says whether p is the gateway's answer to a check: a binding
// success under its password.
func (c *benchBrowserConn) answered(p []byte) bool {
	m := stun.Message{Raw: append([]byte(nil), p...)}
	return m.Decode() == nil && m.Type == stun.BindingSuccess && c.rIntegrity.Check(&m) == nil
}

// handshake is the DTLS client's, pinning the answer's fingerprint, then
// SRTP keyed from it.
func (c *benchBrowserConn) handshake(ctx context.Context) error {
	conn, err := dtls.ClientWithOptions(c.pipe, net.UDPAddrFromAddrPort(c.remote),
		dtls.WithCertificates(c.bb.cert),
		dtls.WithSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80),
		dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
		dtls.WithInsecureSkipVerify(true),
		dtls.WithVerifyPeerCertificate(func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("no certificate")
			}
			if sum := sha256.Sum256(raw[0]); subtle.ConstantTimeCompare(sum[:], c.rSHA256[:]) != 1 {
				return errors.New("the gateway's certificate is not the answer's fingerprint")
			}
			return nil
		}))
	if err != nil {
		return err
	}
	c.dtls = conn
	if err := conn.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("DTLS: %w", err)
	}
	chosen, _ := conn.SelectedSRTPProtectionProfile()
	cfg := srtp.Config{Profile: srtp.ProtectionProfileAeadAes128Gcm}
	if chosen == dtls.SRTP_AES128_CM_HMAC_SHA1_80 {
		cfg.Profile = srtp.ProtectionProfileAes128CmHmacSha1_80
	}
	state, _ := conn.ConnectionState()
	if err := cfg.ExtractSessionKeysFromDTLS(&state, true); err != nil {
		return err
	}
	if c.tx, err = srtp.CreateContext(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, cfg.Profile); err != nil {
		return err
	}
	if c.rx, err = srtp.CreateContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, cfg.Profile); err != nil {
		return err
	}
	c.open.Store(true)
	return nil
}

// close ends the connection as a page closing it does: a DTLS
// close_notify, then silence.
func (c *benchBrowserConn) close() {
	bb := c.bb
	bb.addrMu.Lock()
	delete(bb.byAddr, c.ip)
	bb.addrMu.Unlock()
	bb.mu.Lock()
	bb.slots[c.slot] = unordered(bb.slots[c.slot], c)
	bb.mu.Unlock()
	if c.dtls != nil {
		_ = c.dtls.Close()
	}
	_ = c.pipe.Close()
}

// send wakes every slot and seals and sends the tone's next frame for
// every connection due (as uaMedia.send does for the SIP phones).
func (bb *benchBrowsers) send() {
	defer bb.wg.Done()
	tick := time.NewTicker(sendSlot)
	defer tick.Stop()
	next := time.Now().UnixNano() / int64(sendSlot)
	for {
		select {
		case <-bb.quit:
			return
		case <-tick.C:
		}
		nowSlot := time.Now().UnixNano() / int64(sendSlot)
		next = max(next, nowSlot-int64(slotsPerFrame)+1)
		bb.mu.Lock()
		for ; next <= nowSlot; next++ {
			for _, c := range bb.slots[next%int64(slotsPerFrame)] {
				c.queueFrame()
			}
		}
		bb.mu.Unlock()
		_, _ = bb.io.write() // an error: closed, the browsers stop
	}
}

// queueFrame seals the connection's next frame (and, every so often, its
// consent check) into the next batch.
func (c *benchBrowserConn) queueFrame() {
	if c.frame%consentEvery == consentEvery-1 {
		c.bb.io.queueFrom(c.to, c.consent, c.from) // the same transaction: the gateway answers it again
	}
	h := rtp.Header{Version: 2, Marker: c.frame == 0, PayloadType: c.pt, SequenceNumber: c.seq, Timestamp: c.ts, SSRC: c.ssrc}
	n, err := h.MarshalTo(c.plain[:])
	if err != nil {
		return
	}
	payload := c.bb.tone[c.frame%len(c.bb.tone)]
	n += copy(c.plain[n:], payload)
	sealed, err := c.tx.EncryptRTP(c.sealed[:0], c.plain[:n], &h)
	if err != nil {
		return
	}
	c.sealed = sealed
	c.bb.io.queueFrom(c.to, c.sealed, c.from)
	c.frame++
	c.seq++
	c.ts += 960
}

// receive reads every connection's datagrams in batches: check answers,
// DTLS to its handshake, SRTP opened and timed.
func (bb *benchBrowsers) receive() {
	defer bb.wg.Done()
	plain := make([]byte, 1500)
	var h rtp.Header
	for {
		n, err := bb.io.read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(time.Millisecond)
			continue
		}
		readAt := time.Now()
		for i := range n {
			p := bb.io.packet(i)
			dst, ok := bb.io.destination(i)
			if !ok {
				continue
			}
			bb.addrMu.RLock()
			c := bb.byAddr[dst]
			bb.addrMu.RUnlock()
			if c == nil || len(p) == 0 || bb.io.from(i) != c.remote {
				continue
			}
			switch b := p[0]; {
			case b <= 3:
				if c.answered(p) {
					c.checkOnce.Do(func() { close(c.checked) })
				}
			case b >= 20 && b <= 63:
				c.pipe.Deliver(p)
			case b >= 128 && b <= 191 && c.open.Load() && !(p[1] >= 192 && p[1] <= 223):
				if _, err := c.rx.DecryptRTP(plain[:0], p, &h); err != nil {
					continue
				}
				at := readAt
				if t, ok := bb.io.arrival(i); ok {
					at = t
				}
				bb.heard.arrived(c.id, h.SequenceNumber, at)
			}
		}
	}
}

func randICE(n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[rand.IntN(len(chars))]
	}
	return string(b)
}
