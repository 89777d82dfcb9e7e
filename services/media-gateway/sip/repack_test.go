package sip_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/audio"
	"github.com/emiago/diago/media"
	sipgosip "github.com/emiago/sipgo/sip"
)

// A trunk that sends 30 ms packets, a phone whose answer asked for
// a=ptime:20 (diago's always does): the phone must get 20 ms packets, their
// timestamps 160 apart, carrying the trunk's audio byte for byte.

// toneHz is the trunk's tone; its loudness swells slowly so that no stretch
// of the stream repeats and a byte dropped or doubled shows.
const toneHz = 400

// trunkStream is the trunk's PCMU, sample n at byte n.
func trunkStream(samples int) []byte {
	pcm := make([]byte, 2*samples)
	for n := range samples {
		amp := 5000 + 3000*math.Sin(2*math.Pi*0.7*float64(n)/8000)
		v := int16(amp * math.Sin(2*math.Pi*toneHz*float64(n)/8000))
		binary.LittleEndian.PutUint16(pcm[2*n:], uint16(v))
	}
	out := make([]byte, samples)
	_, _ = audio.EncodeUlawTo(out, pcm)
	return out
}

// startGoUAWith is startGoUA with calls served by handler(u) instead of
// u.serve, set before the UA listens.
func startGoUAWith(t *testing.T, handler func(u *goUA) diago.ServeDialogFunc, codecs ...media.Codec) *goUA {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := newGoUA(t, 0, "udp", conn.LocalAddr().String(), nil)
	if len(codecs) > 0 {
		u.codecs = codecs
	}
	u.dg.HandleFunc(handler(u))
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

// sendsLongPackets answers like a trunk that sends stream in packets of
// size bytes every size/8 ms, whatever its answer's ptime.
func sendsLongPackets(stream []byte, size int) func(u *goUA) diago.ServeDialogFunc {
	return func(u *goUA) diago.ServeDialogFunc {
		return func(d *diago.DialogServerSession) {
			med, err := d.Answer(diago.AnswerOptions{Codecs: u.codecs})
			if err != nil {
				return
			}
			ctx := d.Context()
			tick := time.NewTicker(time.Duration(size) * time.Second / 8000)
			defer tick.Stop()
			for i := 0; (i+1)*size <= len(stream); i++ {
				_, _ = med.RTPPacketWriter.WriteSamples(stream[i*size:(i+1)*size], uint32(size), i == 0, 0)
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
			<-ctx.Done()
		}
	}
}

// rtpIn is one packet a phone received.
type rtpIn struct {
	pt      uint8
	ts      uint32
	marker  bool
	payload []byte
}

// taps is what a phone served by tapPackets received.
type taps struct {
	// answered, when set, is given each call answered.
	answered chan phoneCall
	mu       sync.Mutex
	pkts     []rtpIn
}

// phoneCall is a call a phone answered.
type phoneCall struct {
	d   *diago.DialogServerSession
	med *diago.DialogMedia
}

func (tp *taps) got() []rtpIn {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]rtpIn(nil), tp.pkts...)
}

// tapPackets answers with the UA's codecs and keeps every RTP packet
// received, headers included.
func (tp *taps) tapPackets(u *goUA) diago.ServeDialogFunc {
	return func(d *diago.DialogServerSession) {
		med, err := d.Answer(diago.AnswerOptions{Codecs: u.codecs})
		if err != nil {
			return
		}
		if tp.answered != nil {
			tp.answered <- phoneCall{d, med}
		}
		buf := make([]byte, media.RTPBufSize)
		for {
			n, err := med.RTPPacketReader.Read(buf)
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || d.Context().Err() != nil {
				return
			}
			if err != nil || n == 0 {
				continue
			}
			h := med.RTPPacketReader.PacketHeader
			tp.mu.Lock()
			tp.pkts = append(tp.pkts, rtpIn{pt: h.PayloadType, ts: h.Timestamp, marker: h.Marker, payload: bytes.Clone(buf[:n])})
			tp.mu.Unlock()
		}
	}
}

func TestTrunk30msToPhone20ms(t *testing.T) {
	t.Parallel()
	stream := trunkStream(8000 * 10) // 10 s, more than the test needs
	contact := startGoUAWith(t, sendsLongPackets(stream, 240))
	var agentGot taps
	agent := startGoUAWith(t, agentGot.tapPackets)
	got := agentGot.got
	g := startGateway(t, contact.Addr, nil)
	call, err := g.Dial(context.Background(), "ptime-call", "sip:agent1@"+agent.Addr, number, nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer func() { _ = call.Hangup(context.Background()) }() // ended already, perhaps

	const want = 75 // 1.5 s
	waitUntil(t, "the phone receiving 1.5 s of the trunk's audio", func() bool { return len(got()) >= want })
	pkts := got()
	var pcm []float64
	at, resyncs := -1, 0 // where the last packet's audio is in the stream
	for i, p := range pkts {
		if p.pt != 0 || len(p.payload) != 160 {
			t.Fatalf("packet %d: payload type %d, %d bytes; want PCMU, 160 bytes (20 ms)", i, p.pt, len(p.payload))
		}
		if i == 0 {
			if at = bytes.Index(stream, p.payload); at < 0 {
				t.Fatal("the first packet is not a stretch of the trunk's audio")
			}
			continue
		}
		// The timestamps follow the wall clock: a stall on the way (a busy
		// machine) restarts the talkspurt, marked, later by the stall.
		switch d := p.ts - pkts[i-1].ts; {
		case p.marker && d > 160:
			resyncs++
		case d != 160 || p.marker:
			t.Errorf("packet %d: timestamp +%d marker %v, want +160 in a talkspurt", i, d, p.marker)
		}
		at += 160
		if at+160 > len(stream) || !bytes.Equal(p.payload, stream[at:at+160]) {
			t.Fatalf("packet %d: not the trunk's audio that follows the previous packet's", i)
		}
		for _, b := range p.payload {
			pcm = append(pcm, float64(pcmuSample(b)))
		}
	}
	if resyncs > len(pkts)/10 {
		t.Errorf("%d talkspurts restarted in %d packets: the stream is not continuous", resyncs, len(pkts))
	}
	if tone, other := tonePower(pcm, 8000, toneHz), tonePower(pcm, 8000, 1700); tone < 100*other {
		t.Errorf("the phone hears %.3g at %d Hz, %.3g at 1700 Hz: not the trunk's tone", tone, toneHz, other)
	}
}

// tonePower is the power of frequency hz in samples taken at rate (the
// Goertzel filter; opus_test.go has the same, built with the opus tag only).
func tonePower(samples []float64, rate, hz float64) float64 {
	w := 2 * math.Pi * hz / rate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range samples {
		s1, s2 = x+c*s1-s2, s1
	}
	return s1*s1 + s2*s2 - c*s1*s2
}

// A phone that re-INVITEs asking for a=ptime:30 mid-call is sent 30 ms
// packets from then on, cut from the trunk's 20 ms ones.
func TestPhoneReinviteChangesPtime(t *testing.T) {
	t.Parallel()
	contact := startGoUA(t, contactMark)
	agentGot := taps{answered: make(chan phoneCall, 1)}
	agent := startGoUAWith(t, agentGot.tapPackets)
	g := startGateway(t, contact.Addr, nil)
	call, err := g.Dial(context.Background(), "ptime-reinvite", "sip:agent1@"+agent.Addr, number, nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer func() { _ = call.Hangup(context.Background()) }() // ended already, perhaps
	waitUntil(t, "the contact's audio at the phone", func() bool { return len(agentGot.got()) >= 10 })
	for i, p := range agentGot.got() {
		if len(p.payload) != 160 {
			t.Fatalf("before the re-INVITE, packet %d: %d bytes, want 160", i, len(p.payload))
		}
	}

	pc := <-agentGot.answered
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := reinviteWithPtime(ctx, pc, 30); err != nil {
		t.Fatalf("re-INVITE: %v", err)
	}
	var after []rtpIn
	waitUntil(t, "1 s of 30 ms packets at the phone", func() bool {
		after = nil
		for _, p := range agentGot.got() {
			if len(p.payload) != 160 || after != nil {
				after = append(after, p)
			}
		}
		return len(after) >= 33
	})
	resyncs := 0
	for i, p := range after {
		if len(p.payload) != 240 || !bytes.Equal(p.payload, bytes.Repeat([]byte{contactMark}, 240)) {
			t.Fatalf("after the re-INVITE, packet %d: %d bytes (% x...), want 240 of the contact's", i, len(p.payload), p.payload[:4])
		}
		if i == 0 {
			continue
		}
		switch d := p.ts - after[i-1].ts; {
		case p.marker && d > 240:
			resyncs++ // a stall on a busy machine, see TestTrunk30msToPhone20ms
		case d != 240 || p.marker:
			t.Errorf("packet %d: timestamp +%d marker %v, want +240 in a talkspurt", i, d, p.marker)
		}
	}
	if resyncs > len(after)/10 {
		t.Errorf("%d talkspurts restarted in %d packets", resyncs, len(after))
	}
}

// reinviteWithPtime re-INVITEs from the phone's side of the dialog with its
// own SDP, but asking for ptime ms packets (diago's SDP says 20 always).
func reinviteWithPtime(ctx context.Context, pc phoneCall, ms int) error {
	d, v := pc.d, strconv.Itoa(ms)
	local := string(pc.med.MediaSession().LocalSDP(false))
	body := strings.NewReplacer("a=ptime:20", "a=ptime:"+v, "a=maxptime:20", "a=maxptime:"+v).Replace(local)
	if body == local {
		return fmt.Errorf("no ptime in the phone's SDP: %q", local)
	}
	req := sipgosip.NewRequest(sipgosip.INVITE, d.RemoteContact().Address)
	req.AppendHeader(sipgosip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody([]byte(body))
	res, err := d.Do(ctx, req)
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		return fmt.Errorf("answered %d %s", res.StatusCode, res.Reason)
	}
	cont := res.Contact()
	if cont == nil {
		return errors.New("no Contact in the answer")
	}
	return d.WriteRequest(sipgosip.NewRequest(sipgosip.ACK, cont.Address))
}
