package sip_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
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
// (diago's writer keeps the pace) whose first 8 bytes are the send time,
// and times the frames it receives: both ends share the clock, so a frame
// is attributed to the measurement window by when it was sent.
type benchUA struct {
	Addr   string
	dg     *diago.Diago
	meter  *rtpMeter
	conn   net.PacketConn
	ua     *sipgo.UserAgent
	served chan struct{}
	calls  sync.WaitGroup // streams in progress: answered or placed calls
}

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
	u.conn.Close()
	<-u.served
	u.ua.Close()
}

func (u *benchUA) serve(d *diago.DialogServerSession) {
	u.calls.Add(1)
	defer u.calls.Done()
	_ = d.Trying()
	med, err := d.Answer(diago.AnswerOptions{Codecs: []media.Codec{media.CodecAudioUlaw}})
	if err != nil {
		return
	}
	u.stream(d.Context(), med) // until the gateway hangs up
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

func (c *directCall) hangup(ctx context.Context) error {
	err := c.d.Hangup(ctx)
	<-c.done
	return errors.Join(err, c.d.Close())
}

// stream sends and receives until ctx (the dialog) is done, then closes the
// media and waits for both directions.
func (u *benchUA) stream(ctx context.Context, med *diago.DialogMedia) {
	u.meter.streams.Add(1)
	defer u.meter.streams.Add(-1)
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

// rtpMeter counts, over a window set by the benchmark, the frames sent and
// the frames received that were sent within it, and histograms the receive
// jitter (|inter-arrival gap - 20 ms|) and the one-way delay. All methods
// are safe for concurrent use; the counters are reset between windows.
type rtpMeter struct {
	start, end atomic.Int64 // window, unix ns; start 0: none
	streams    atomic.Int64 // calls whose media is streaming
	sent, recv atomic.Int64
	jitter     histogram
	delay      histogram
}

// window opens a measurement window and resets the counters; call it while
// no window is open.
func (m *rtpMeter) window(start time.Time, d time.Duration) {
	m.start.Store(0)
	m.sent.Store(0)
	m.recv.Store(0)
	m.jitter.reset()
	m.delay.reset()
	m.end.Store(start.Add(d).UnixNano())
	m.start.Store(start.UnixNano())
}

func (m *rtpMeter) in(sentAt int64) bool {
	s := m.start.Load()
	return s != 0 && sentAt >= s && sentAt < m.end.Load()
}

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

func (m *rtpMeter) receive(med *diago.DialogMedia) {
	r, err := med.AudioReader()
	if err != nil {
		return
	}
	buf := make([]byte, media.RTPBufSize)
	var prev time.Time
	for {
		n, err := r.Read(buf)
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil || n < 8 {
			continue
		}
		now := time.Now()
		sentAt := int64(binary.BigEndian.Uint64(buf))
		if m.in(sentAt) {
			m.recv.Add(1)
			m.delay.add(now.Sub(time.Unix(0, sentAt)))
			if !prev.IsZero() {
				m.jitter.add((now.Sub(prev) - frameDur).Abs())
			}
		}
		prev = now
	}
}

// frameDur is the packet time the UAs send at.
const frameDur = 20 * time.Millisecond

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
func (h *histogram) quantile(q float64) time.Duration {
	var total int64
	for i := range h.buckets {
		total += h.buckets[i].Load()
	}
	if total == 0 {
		return 0
	}
	rank := int64(q*float64(total-1)) + 1
	var seen int64
	for i := range h.buckets {
		if seen += h.buckets[i].Load(); seen >= rank {
			return time.Duration(i+1) * histBucket
		}
	}
	return time.Duration(len(h.buckets)) * histBucket
}
