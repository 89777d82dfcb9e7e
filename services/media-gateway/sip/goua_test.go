package sip_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"
)

// goUA is a phone (or trunk) written with diago, for what sipp cannot show:
// the audio and the DTMF that reach a side. It answers every call with
// PCMU, sends a 20 ms frame every 20 ms whose payload is its mark repeated,
// and counts the G.711 packets it receives by content.
type goUA struct {
	Addr   string
	dg     *diago.Diago
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	mark   byte
	codecs []media.Codec // what it answers with
	// frame, when set, is the payload to send for the i-th 20 ms instead of
	// the mark; tap sees every payload received (see hooks).
	frame func(i int) []byte
	tap   func(pt uint8, payload []byte)

	mu      sync.Mutex
	calls   int          // INVITEs answered
	hungUp  int          // of those, ended by the other side
	uniform map[byte]int // G.711 packets whose payload is one byte repeated, by that byte
	varied  int          // other G.711 packets (the hold tone)
	digits  []rune       // RFC 4733 events received
	offers  []string     // the SDP of every INVITE
	options int          // OPTIONS answered
	// clearAnswer: answer every INVITE with plain RTP/AVP, whatever the
	// offer (set before the first call).
	clearAnswer bool
	last        *diago.DialogServerSession // the call it answered last (hangUp)
	// onAck, when set, sees each ACK before diago does.
	onAck atomic.Pointer[func(*sipgosip.Request)]
}

// Marks of the two sides' audio; 0xFF is PCMU silence (the hold tone's gaps).
const (
	agentMark   byte = 0x11
	contactMark byte = 0x22
	pcmuSilence byte = 0xFF
)

// startGoUA runs a Go UA on a free loopback port until the test ends. It
// answers with PCMU and telephone-event, or with the codecs given.
func startGoUA(t *testing.T, mark byte, codecs ...media.Codec) *goUA {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := newGoUA(t, mark, "udp", conn.LocalAddr().String(), nil)
	if len(codecs) > 0 {
		u.codecs = codecs
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = u.srv.ServeUDP(conn)
	}()
	t.Cleanup(func() {
		conn.Close()
		<-served
		u.ua.Close()
	})
	waitUntil(t, "Go UA listening", func() bool {
		_, err := u.ua.TransportLayer().GetConnection("udp", u.Addr)
		return err == nil
	})
	return u
}

// startGoUATLS runs a Go UA over TLS on a free loopback port, presenting
// cert and trusting the CAs in caFile for the connections it opens; with
// srtp it takes SRTP offers (SDES) and keys its answers.
func startGoUATLS(t *testing.T, mark byte, certFile, keyFile, caFile string, srtp bool) *goUA {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pemCA, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemCA)
	server := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	client := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	l, err := tls.Listen("tcp4", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	u := newGoUA(t, mark, "tls", l.Addr().String(), &tlsPair{server: server, client: client, srtp: srtp})
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = u.srv.ServeTLS(l)
	}()
	t.Cleanup(func() {
		l.Close()
		<-served
		u.ua.Close()
	})
	return u
}

// startGoUANAT runs a Go UA over TCP that advertises contactHost (a NAT's
// other side: nobody can connect there) in its Contact, with its media on
// 127.0.0.1: it can only be reached over connections it opened.
func startGoUANAT(t *testing.T, mark byte, contactHost string) *goUA {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := newGoUA(t, mark, "tcp", l.Addr().String(), nil, func(tr *diago.Transport) {
		tr.ExternalHost = contactHost
		tr.MediaExternalIP = net.IPv4(127, 0, 0, 1)
	})
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = u.srv.ServeTCP(l)
	}()
	t.Cleanup(func() {
		l.Close()
		<-served
		u.ua.Close()
	})
	return u
}

type tlsPair struct {
	server, client *tls.Config
	srtp           bool
}

// newGoUA builds the UA's stack for transport at addr; the caller serves it.
func newGoUA(t *testing.T, mark byte, transport, addr string, tlsConf *tlsPair, mods ...func(*diago.Transport)) *goUA {
	t.Helper()
	_, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	u := &goUA{Addr: addr, mark: mark, codecs: []media.Codec{media.CodecAudioUlaw, media.CodecTelephoneEvent8000},
		uniform: map[byte]int{}}
	quiet := slog.New(slog.DiscardHandler)
	if os.Getenv("GOUA_DEBUG") != "" {
		quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	opts := []sipgo.UserAgentOption{sipgo.WithUserAgent("goua-" + strconv.Itoa(port)), sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransactionLayerOptions(
			sipgosip.WithTransactionLayerLogger(quiet),
			sipgosip.WithTransactionLayerUnhandledResponseHandler(func(*sipgosip.Response) {})),
		sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(quiet))}
	tr := diago.Transport{Transport: transport, BindHost: "127.0.0.1", BindPort: port}
	if tlsConf != nil {
		opts = append(opts, sipgo.WithUserAgenTLSConfig(tlsConf.client))
		tr.TLSConf = tlsConf.server
		if tlsConf.srtp {
			tr.MediaSRTP = 1
		}
	}
	for _, mod := range mods {
		mod(&tr)
	}
	ua, err := sipgo.NewUA(opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	u.ua, u.srv = ua, srv
	u.dg = diago.NewDiago(ua, diago.WithServer(srv), diago.WithLogger(quiet), diago.WithTransport(tr),
		diago.WithServerRequestMiddleware(func(next sipgo.RequestHandler) sipgo.RequestHandler {
			return func(req *sipgosip.Request, tx sipgosip.ServerTransaction) {
				if f := u.onAck.Load(); f != nil && req.IsAck() {
					(*f)(req)
				}
				next(req, tx)
			}
		}))
	u.dg.HandleFunc(u.serve)
	srv.OnOptions(func(req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		u.mu.Lock()
		u.options++
		u.mu.Unlock()
		_ = tx.Respond(sipgosip.NewResponseFromRequest(req, sipgosip.StatusOK, "OK", nil))
	})
	return u
}

// optionsAnswered counts the OPTIONS (keep-alive probes) it answered.
func (u *goUA) optionsAnswered() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.options
}

func (u *goUA) serve(d *diago.DialogServerSession) {
	u.mu.Lock()
	u.calls++
	u.offers = append(u.offers, string(d.InviteRequest.Body()))
	u.mu.Unlock()
	_ = d.Trying()
	_ = d.Ringing()
	if u.clearAnswer {
		// A trunk that ignores an SRTP offer and answers in clear.
		sdp := "v=0\r\no=goua 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
			"m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
		// Respond waits for the ACK, and may report the BYE that followed
		// it at once as an error: the dialog's end is what counts.
		_ = d.RespondSDP([]byte(sdp))
		select {
		case <-d.Context().Done():
			u.mu.Lock()
			u.hungUp++
			u.mu.Unlock()
		case <-time.After(waitLong):
		}
		return
	}
	med, err := d.Answer(diago.AnswerOptions{Codecs: u.codecs})
	if err != nil {
		return
	}
	u.mu.Lock()
	u.last = d
	u.mu.Unlock()
	ctx := d.Context()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		u.send(ctx, med)
	}()
	go func() {
		defer wg.Done()
		u.receive(med)
	}()
	<-ctx.Done() // the gateway hung up
	med.Close()
	wg.Wait()
	u.mu.Lock()
	u.hungUp++
	u.mu.Unlock()
}

// send writes a frame every 20 ms (diago's writer keeps the pace) until the
// call ends. On hold diago drops what a recvonly side writes.
func (u *goUA) send(ctx context.Context, med *diago.DialogMedia) {
	w, err := med.AudioWriter()
	if err != nil {
		return
	}
	frame := bytes.Repeat([]byte{u.mark}, 160)
	gen, _ := u.hooks()
	for i := 0; ctx.Err() == nil; i++ {
		if gen != nil {
			frame = gen(i)
		}
		if _, err := w.Write(frame); err != nil && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func (u *goUA) receive(med *diago.DialogMedia) {
	var events diago.DTMFReader
	r, err := med.AudioReader(diago.WithAudioReaderDTMF(&events))
	if err == nil {
		events.OnDTMF(func(d rune) error {
			u.mu.Lock()
			u.digits = append(u.digits, d)
			u.mu.Unlock()
			return nil
		})
	} else if r, err = med.AudioReader(); err != nil { // no telephone-event negotiated
		return
	}
	buf := make([]byte, media.RTPBufSize)
	_, tap := u.hooks()
	for {
		n, err := r.Read(buf)
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
			return
		}
		if tap != nil && err == nil && n > 0 {
			tap(med.RTPPacketReader.PacketHeader.PayloadType, buf[:n])
		}
		if pt := med.RTPPacketReader.PacketHeader.PayloadType; err != nil || n == 0 || (pt != 0 && pt != 8) {
			continue // counts G.711 only
		}
		p := buf[:n]
		u.mu.Lock()
		if bytes.Count(p, p[:1]) == len(p) {
			u.uniform[p[0]]++
		} else {
			u.varied++
		}
		u.mu.Unlock()
	}
}

// count is the number of packets received whose payload is mark repeated.
func (u *goUA) count(mark byte) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.uniform[mark]
}

func (u *goUA) variedCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.varied
}

func (u *goUA) dtmf() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return string(u.digits)
}

// setHooks sets frame and tap for the calls to come.
func (u *goUA) setHooks(frame func(i int) []byte, tap func(pt uint8, payload []byte)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.frame, u.tap = frame, tap
}

func (u *goUA) hooks() (func(i int) []byte, func(pt uint8, payload []byte)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.frame, u.tap
}

func (u *goUA) ended() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hungUp
}

func (u *goUA) sdpOffers() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.offers...)
}

func (u *goUA) answered() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls
}

// waitUntil polls cond until it holds, or fails the test after waitLong.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, waitLong)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// grows waits until counter has grown by at least n.
func grows(t *testing.T, what string, counter func() int, n int) {
	t.Helper()
	from := counter()
	waitUntil(t, what, func() bool { return counter()-from >= n })
}

// stays checks that counter grows by at most slack over a while: what is
// stopped stays stopped. (A packet read just before the change may still
// be forwarded after it: slack.)
func stays(t *testing.T, what string, counter func() int, slack int) {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // let what was in flight land
	from := counter()
	time.Sleep(600 * time.Millisecond)
	if got := counter() - from; got > slack {
		t.Errorf("%s: %d packets in 600 ms, want at most %d", what, got, slack)
	}
}
