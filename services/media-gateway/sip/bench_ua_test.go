package sip_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
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

// benchUA is the media benchmark's phone or trunk: a diago UA, like goUA,
// that answers every call with PCMU (and can place calls, for the baseline
// without the gateway). On every call it sends a 20 ms frame every 20 ms
// whose first 8 bytes are the send time, and times the frames it receives:
// both ends share the clock, so a frame is attributed to the measurement
// window by when it was sent.
//
// The UAs are the load generator, and they run in the gateway's process:
// the CPU they use is taken from the gateway, and what they allocate starts
// garbage-collector cycles whose mark assists stall the gateway's
// forwarding goroutines (tens of ms: the jitter p99 at 300 calls was
// mostly that). So by default a UA's media is cheap and allocates nothing
// per frame: all its calls share one RTP socket (and one RTCP socket, for
// the gateway's reports), one goroutine sends every call's frames on a
// schedule of sendSlot (each call keeps the 20 ms phase it started with, to
// within a slot; the frames due in a slot go out in one sendmmsg), and one
// goroutine receives them all (recvmmsg, calls told apart by SSRC, arrival
// timestamped by the kernel too). The load the gateway sees is the same:
// per call and direction, a 172-byte PCMU packet every 20 ms to its own
// leg's socket. BRIDGE_UA=diago gives each call a diago media session of
// its own with two goroutines, a ticker each: the UA this benchmark had
// first, which costs the shared CPUs about as much as the gateway and
// allocates twice as much.
type benchUA struct {
	Addr   string
	dg     *diago.Diago
	meter  *rtpMeter
	conn   net.PacketConn
	ua     *sipgo.UserAgent
	served chan struct{}
	calls  sync.WaitGroup // streams in progress: answered or placed calls
	media  *uaMedia       // nil with BRIDGE_UA=diago
}

// diagoMedia: BRIDGE_UA=diago, a diago media session per call.
var diagoMedia = os.Getenv("BRIDGE_UA") == "diago"

func startBenchUA(tb testing.TB, m *rtpMeter) *benchUA {
	tb.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	quiet := slog.New(slog.DiscardHandler)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("benchua-"+strconv.Itoa(port)), sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransactionLayerOptions(
			sipgosip.WithTransactionLayerLogger(quiet),
			sipgosip.WithTransactionLayerUnhandledResponseHandler(func(*sipgosip.Response) {})),
		sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(quiet)))
	if err != nil {
		conn.Close()
		tb.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		conn.Close()
		ua.Close()
		tb.Fatal(err)
	}
	u := &benchUA{Addr: conn.LocalAddr().String(), meter: m, conn: conn, ua: ua, served: make(chan struct{})}
	if !diagoMedia {
		if u.media, err = startUAMedia(m); err != nil {
			conn.Close()
			ua.Close()
			tb.Fatal(err)
		}
	}
	u.dg = diago.NewDiago(ua, diago.WithServer(srv), diago.WithLogger(quiet),
		diago.WithTransport(diago.Transport{Transport: "udp", BindHost: "127.0.0.1", BindPort: port}),
		diago.WithMediaConfig(diago.MediaConfig{Codecs: []media.Codec{media.CodecAudioUlaw}}))
	u.dg.HandleFunc(u.serve)
	go func() {
		defer close(u.served)
		_ = srv.ServeUDP(conn)
	}()
	deadline := time.Now().Add(waitLong)
	for {
		if _, err := ua.TransportLayer().GetConnection("udp", u.Addr); err == nil {
			return u
		}
		if time.Now().After(deadline) {
			u.stop()
			tb.Fatalf("bench UA %s: not listening within %s", u.Addr, waitLong)
		}
		time.Sleep(time.Millisecond)
	}
}

// stop closes the listener once every call has ended (hang them up first).
func (u *benchUA) stop() {
	u.calls.Wait()
	if u.media != nil {
		u.media.close()
	}
	u.conn.Close()
	<-u.served
	u.ua.Close()
}

func (u *benchUA) serve(d *diago.DialogServerSession) {
	u.calls.Add(1)
	defer u.calls.Done()
	_ = d.Trying()
	if u.media == nil {
		med, err := d.Answer(diago.AnswerOptions{Codecs: []media.Codec{media.CodecAudioUlaw}})
		if err != nil {
			return
		}
		u.stream(d.Context(), med) // until the gateway hangs up
		return
	}
	dst, err := sdpAudioAddr(d.InviteRequest.Body())
	if err != nil {
		_ = d.Respond(488, "Not Acceptable Here", nil)
		return
	}
	if err := d.RespondSDP(u.media.sdp()); err != nil {
		return
	}
	u.media.stream(d.Context(), dst) // until the gateway hangs up
}

// directCall is a call placed by a benchUA straight to another, without the
// gateway: the baseline of what the same UAs achieve on this machine.
type directCall struct {
	d    *diago.DialogClientSession
	done chan struct{}
}

func (u *benchUA) call(ctx context.Context, to string) (*directCall, error) {
	var uri sipgosip.Uri
	if err := sipgosip.ParseUri("sip:bench@"+to, &uri); err != nil {
		return nil, err
	}
	if u.media == nil {
		d, med, err := u.dg.Invite(ctx, uri, diago.InviteOptions{Transport: "udp"})
		if err != nil {
			return nil, fmt.Errorf("invite %s: %w", to, err)
		}
		c := &directCall{d: d, done: make(chan struct{})}
		u.calls.Add(1)
		go func() {
			defer u.calls.Done()
			defer close(c.done)
			u.stream(d.Context(), med)
		}()
		return c, nil
	}

	// The INVITE diago would send, with this UA's shared RTP socket in
	// the SDP instead of a media session of its own.
	d, err := u.dg.NewDialog(uri, diago.NewDialogOptions{Transport: "udp"})
	if err != nil {
		return nil, err
	}
	req := d.InviteRequest
	req.AppendHeader(&d.UA.ContactHDR)
	req.AppendHeader(sipgosip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(u.media.sdp())
	if from := req.From(); from != nil {
		from.Params.Add("tag", sipgosip.GenerateTagN(16))
	}
	if err := sipgo.ClientRequestBuild(d.UA.Client, req); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.DialogClientSession.Invite(ctx, func(*sipgo.Client, *sipgosip.Request) error { return nil }); err != nil {
		d.Close()
		return nil, fmt.Errorf("invite %s: %w", to, err)
	}
	if err := d.DialogClientSession.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		d.Close()
		return nil, fmt.Errorf("invite %s: %w", to, err)
	}
	dst, err := sdpAudioAddr(d.InviteResponse.Body())
	if ackErr := d.Ack(ctx); err == nil {
		err = ackErr
	}
	if err != nil {
		_ = d.Hangup(ctx)
		d.Close()
		return nil, fmt.Errorf("invite %s: %w", to, err)
	}
	c := &directCall{d: d, done: make(chan struct{})}
	u.calls.Add(1)
	go func() {
		defer u.calls.Done()
		defer close(c.done)
		u.media.stream(d.Context(), dst)
	}()
	return c, nil
}

func (c *directCall) hangup(ctx context.Context) error {
	err := c.d.Hangup(ctx)
	<-c.done
	return errors.Join(err, c.d.Close())
}

// stream sends and receives until ctx (the dialog) is done, then closes the
// media and waits for both directions (BRIDGE_UA=diago).
func (u *benchUA) stream(ctx context.Context, med *diago.DialogMedia) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		u.meter.send(ctx, med)
	}()
	go func() {
		defer wg.Done()
		u.meter.receive(med)
	}()
	<-ctx.Done()
	med.Close()
	wg.Wait()
}

// sdpAudioAddr is the RTP address of an SDP's audio stream: its port, at
// the connection address of the media or else of the session.
func sdpAudioAddr(sdp []byte) (*net.UDPAddr, error) {
	var ip net.IP
	port := -1
	for line := range bytes.Lines(sdp) {
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case bytes.HasPrefix(line, []byte("c=IN IP4 ")) && (ip == nil || port >= 0):
			ip = net.ParseIP(string(bytes.Fields(line[len("c=IN IP4 "):])[0]))
		case bytes.HasPrefix(line, []byte("m=audio ")) && port < 0:
			f := bytes.Fields(line)
			if p, err := strconv.Atoi(string(f[1])); err == nil {
				port = p
			}
		}
	}
	if ip == nil || port <= 0 {
		return nil, fmt.Errorf("no audio address in SDP %q", sdp)
	}
	return &net.UDPAddr{IP: ip, Port: port}, nil
}

// rtpMeter counts, over a window set by the benchmark, the frames sent and
// the frames received that were sent within it, and histograms the receive
// jitter (|inter-arrival gap - 20 ms|) and the one-way delay. All methods
// are safe for concurrent use; the counters are reset between windows.
//
// A frame's arrival is when the receiving UA read it (jitter, delay), and
// also, where the kernel timestamps arrivals (SO_TIMESTAMPNS, not with
// BRIDGE_UA=diago), when it reached the UA's socket (jitterArrival): that
// one leaves out how late the UA itself got to read.
type rtpMeter struct {
	start, end    atomic.Int64 // window, unix ns; start 0: none
	sent, recv    atomic.Int64
	jitter        histogram
	jitterArrival histogram
	delay         histogram
}

// window opens a measurement window and resets the counters; call it while
// no window is open.
func (m *rtpMeter) window(start time.Time, d time.Duration) {
	m.start.Store(0)
	m.sent.Store(0)
	m.recv.Store(0)
	m.jitter.reset()
	m.jitterArrival.reset()
	m.delay.reset()
	m.end.Store(start.Add(d).UnixNano())
	m.start.Store(start.UnixNano())
}

func (m *rtpMeter) in(sentAt int64) bool {
	s := m.start.Load()
	return s != 0 && sentAt >= s && sentAt < m.end.Load()
}

// arrived records a frame sent at sentAt (unix ns) of a call whose
// previous frame was read at *prevRead and arrived at *prevArrival.
func (m *rtpMeter) arrived(sentAt int64, read, arrival time.Time, prevRead, prevArrival *time.Time) {
	if m.in(sentAt) {
		m.recv.Add(1)
		m.delay.add(read.Sub(time.Unix(0, sentAt)))
		if !prevRead.IsZero() {
			m.jitter.add((read.Sub(*prevRead) - frameDur).Abs())
			m.jitterArrival.add((arrival.Sub(*prevArrival) - frameDur).Abs())
		}
	}
	*prevRead, *prevArrival = read, arrival
}

// send is a call's sender with BRIDGE_UA=diago: diago's writer keeps the
// pace, with a ticker.
func (m *rtpMeter) send(ctx context.Context, med *diago.DialogMedia) {
	w, err := med.AudioWriter()
	if err != nil {
		return
	}
	frame := make([]byte, 160) // 20 ms of PCMU
	for i := range frame {
		frame[i] = 0xFF // PCMU silence after the timestamp
	}
	for ctx.Err() == nil {
		now := time.Now().UnixNano()
		binary.BigEndian.PutUint64(frame, uint64(now))
		if _, err := w.Write(frame); err != nil {
			if ctx.Err() == nil {
				time.Sleep(frameDur)
			}
			continue
		}
		if m.in(now) {
			m.sent.Add(1)
		}
	}
}

// receive is a call's receiver with BRIDGE_UA=diago.
func (m *rtpMeter) receive(med *diago.DialogMedia) {
	r, err := med.AudioReader()
	if err != nil {
		return
	}
	buf := make([]byte, media.RTPBufSize)
	var prev, prevArrival time.Time
	for {
		n, err := r.Read(buf)
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil || n < 8 {
			continue
		}
		now := time.Now()
		m.arrived(int64(binary.BigEndian.Uint64(buf)), now, now, &prev, &prevArrival)
	}
}

// frameDur is the packet time the UAs send at; frameSamples its samples.
const (
	frameDur     = 20 * time.Millisecond
	frameSamples = 8000 * frameDur / time.Second
)

// histogram counts durations in 50 µs buckets up to 1 s (the last bucket
// holds everything longer).
type histogram struct {
	buckets [20001]atomic.Int64
}

const histBucket = 50 * time.Microsecond

func (h *histogram) add(d time.Duration) {
	i := min(max(int(d/histBucket), 0), len(h.buckets)-1)
	h.buckets[i].Add(1)
}

func (h *histogram) reset() {
	for i := range h.buckets {
		h.buckets[i].Store(0)
	}
}

// quantile is the upper bound of the bucket holding quantile q, 0 when empty.
func (h *histogram) quantile(q float64) time.Duration { return quantileOf(q, h) }

// quantileOf is quantile q of the histograms' durations together.
func quantileOf(q float64, hs ...*histogram) time.Duration {
	count := func(i int) (n int64) {
		for _, h := range hs {
			n += h.buckets[i].Load()
		}
		return n
	}
	var total int64
	for i := range len(histogram{}.buckets) {
		total += count(i)
	}
	if total == 0 {
		return 0
	}
	rank := int64(q*float64(total-1)) + 1
	var seen int64
	for i := range len(histogram{}.buckets) {
		if seen += count(i); seen >= rank {
			return time.Duration(i+1) * histBucket
		}
	}
	return time.Duration(len(histogram{}.buckets)) * histBucket
}

// The bench UA's own SDP and RTP parsing (its cheap media path).
func TestBenchUAParsing(t *testing.T) {
	sdp := []byte("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n" +
		"m=audio 40002 RTP/AVP 0 8 101\r\nc=IN IP4 127.0.0.3\r\na=rtpmap:0 PCMU/8000\r\n")
	if a, err := sdpAudioAddr(sdp); err != nil || a.String() != "127.0.0.3:40002" {
		t.Fatalf("media-level c=: %v, %v", a, err)
	}
	sdp = []byte("v=0\r\nc=IN IP4 127.0.0.2\r\nm=audio 40004 RTP/AVP 0\r\n")
	if a, err := sdpAudioAddr(sdp); err != nil || a.String() != "127.0.0.2:40004" {
		t.Fatalf("session-level c=: %v, %v", a, err)
	}
	if _, err := sdpAudioAddr([]byte("v=0\r\nc=IN IP4 127.0.0.2\r\n")); err == nil {
		t.Fatal("no m=audio: no error")
	}

	pkt := []byte{0x90, 0x00, 0, 1, 0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef, // X bit
		0xbe, 0xde, 0, 1, 1, 2, 3, 4, // one word of extension
		9, 9, 9, 9, 9, 9, 9, 9, 0xff}
	payload, ssrc, ok := rtpPCMU(pkt)
	if !ok || ssrc != 0xdeadbeef || len(payload) != 9 || payload[0] != 9 {
		t.Fatalf("extension: %v %x %v", payload, ssrc, ok)
	}
	pkt[1] = 8 // PCMA
	if _, _, ok := rtpPCMU(pkt); ok {
		t.Fatal("PCMA taken for PCMU")
	}
}
