package sip

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/emiago/diago/media"
	"github.com/pion/rtp"
)

// capture is an RTP writer that keeps what it is given.
type capture struct{ pkts []rtp.Packet }

func (c *capture) WriteRTP(p *rtp.Packet) error {
	q := *p
	q.Payload = bytes.Clone(p.Payload)
	c.pkts = append(c.pkts, q)
	return nil
}

func newCaptureSender(sdp string) (*sender, *capture) {
	c := &capture{}
	s := &sender{w: media.NewRTPPacketWriter(c, media.CodecAudioUlaw)}
	s.pack.askFor([]byte(sdp))
	return s, c
}

// audioSDP is an answer asking for attrs (a=ptime, a=maxptime lines).
func audioSDP(attrs string) string {
	return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n" + attrs + "a=sendrecv\r\n"
}

func TestSDPPtime(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sdp       string
		ptime, mx time.Duration
	}{
		{"absent", audioSDP(""), 0, 0},
		{"media level", audioSDP("a=ptime:30\r\na=maxptime:40\r\n"), 30 * time.Millisecond, 40 * time.Millisecond},
		{"session level", "v=0\r\na=ptime:40\r\nm=audio 1 RTP/AVP 0\r\n", 40 * time.Millisecond, 0},
		{"media wins", "v=0\r\na=ptime:40\r\nm=audio 1 RTP/AVP 0\r\na=ptime:10\r\n", 10 * time.Millisecond, 0},
		{"video's ignored", "v=0\r\nm=video 2 RTP/AVP 96\r\na=ptime:33\r\nm=audio 1 RTP/AVP 0\r\n", 0, 0},
		{"after audio ignored", "v=0\r\nm=audio 1 RTP/AVP 0\r\na=ptime:20\r\nm=audio 3 RTP/AVP 0\r\na=ptime:60\r\n", 20 * time.Millisecond, 0},
		{"decimal", audioSDP("a=ptime:20.0\r\n"), 20 * time.Millisecond, 0},
		{"garbage", audioSDP("a=ptime:abc\r\na=maxptime:-5\r\n"), 0, 0},
	} {
		p, m := sdpPtime([]byte(tc.sdp))
		if p != tc.ptime || m != tc.mx {
			t.Errorf("%s: ptime %v maxptime %v, want %v %v", tc.name, p, m, tc.ptime, tc.mx)
		}
	}
}

func TestPacketDur(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, tc := range []struct {
		l           law
		ptime, mx   int
		want        int
		description string
	}{
		{lawU, 0, 0, 20, "default"},
		{lawU, 30, 0, 30, "asked"},
		{lawA, 30, 20, 20, "within maxptime"},
		{lawU, 0, 10, 10, "maxptime below the default"},
		{lawU, 5, 0, 20, "too short: default"},
		{lawU, 500, 0, 20, "too long: default"},
		{lawOpus, 0, 0, 20, "Opus default"},
		{lawOpus, 30, 0, 20, "Opus: 30 is no frame, 20 nearest (first of a tie)"},
		{lawOpus, 50, 0, 40, "Opus: nearest"},
		{lawOpus, 60, 40, 40, "Opus within maxptime"},
		{lawOpus, 120, 0, 60, "Opus longest frame"},
		{lawOpus, 10, 0, 10, "Opus 10"},
	} {
		if got := packetDur(tc.l, ms(tc.ptime), ms(tc.mx)); got != ms(tc.want) {
			t.Errorf("%s: law %d ptime %d maxptime %d: %v, want %d ms", tc.description, tc.l, tc.ptime, tc.mx, got, tc.want)
		}
	}
}

// TestRechunk feeds a sender payloads of one length and checks the packets
// it sends: the asked length, timestamps advancing by it, the bytes in
// order with none lost but the tail still pending (less than a packet).
func TestRechunk(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sdp   string
		in    []int // payload lengths, in order
		size  int   // of every packet sent
		inPlc bool  // the first input goes out as is (no copy)
	}{
		{"30 to 20", audioSDP("a=ptime:20\r\n"), []int{240, 240, 240, 240, 240}, 160, false},
		{"20 to 30", audioSDP("a=ptime:30\r\n"), []int{160, 160, 160, 160, 160, 160}, 240, false},
		{"10 to 20", audioSDP("a=ptime:20\r\n"), []int{80, 80, 80, 80, 80}, 160, false},
		{"20 to 20 passthrough", audioSDP("a=ptime:20\r\n"), []int{160, 160, 160}, 160, true},
		{"no ptime: 20", audioSDP(""), []int{240, 240, 240}, 160, false},
		{"odd remainders", audioSDP("a=ptime:20\r\n"), []int{200, 7, 333, 1, 159, 480, 13}, 160, false},
		{"60 to 20 within maxptime", audioSDP("a=ptime:60\r\na=maxptime:20\r\n"), []int{480, 480}, 160, false},
		{"20 to 60", audioSDP("a=ptime:60\r\n"), []int{160, 160, 160, 160, 160, 160, 160}, 480, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newCaptureSender(tc.sdp)
			var all []byte
			for i, n := range tc.in {
				p := make([]byte, n)
				for k := range p {
					p[k] = byte(len(all) + k) // a counter: order and loss show
				}
				all = append(all, p...)
				if err := s.writeAudioFrom(chanContact, p, 0, lawU); err != nil {
					t.Fatal(err)
				}
				if i == 0 && tc.inPlc != (len(c.pkts) == 1 && n == tc.size) {
					t.Errorf("first payload of %d: %d packets", n, len(c.pkts))
				}
			}
			var got []byte
			for i, p := range c.pkts {
				if len(p.Payload) != tc.size {
					t.Errorf("packet %d: %d bytes, want %d", i, len(p.Payload), tc.size)
				}
				if i > 0 && p.Timestamp-c.pkts[i-1].Timestamp != uint32(tc.size) {
					t.Errorf("packet %d: timestamp +%d, want +%d", i, p.Timestamp-c.pkts[i-1].Timestamp, tc.size)
				}
				if i > 0 && p.SequenceNumber != c.pkts[i-1].SequenceNumber+1 {
					t.Errorf("packet %d: sequence %d after %d", i, p.SequenceNumber, c.pkts[i-1].SequenceNumber)
				}
				if i > 0 && p.Marker {
					t.Errorf("packet %d: marker in a talkspurt", i)
				}
				got = append(got, p.Payload...)
			}
			if want := len(all) / tc.size * tc.size; len(got) != want {
				t.Errorf("sent %d bytes of %d, want %d", len(got), len(all), want)
			}
			if !bytes.Equal(got, all[:len(got)]) {
				t.Error("the bytes sent are not those given, in order")
			}
			if pend := len(s.pack.pending); pend != len(all)-len(got) || pend >= tc.size {
				t.Errorf("pending %d bytes, want %d (< %d)", pend, len(all)-len(got), tc.size)
			}
		})
	}
}

// A change of codec, of source, a pause or an event drops what is pending:
// it is never sent stitched to audio of another stream.
func TestRechunkDropsPending(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(s *sender) error // after a 240-byte payload from the contact
	}{
		{"law change", func(s *sender) error { return s.writeAudioFrom(chanContact, make([]byte, 240), 8, lawA) }},
		{"other source", func(s *sender) error { return s.writeAudioFrom(chanParty, make([]byte, 240), 0, lawU) }},
		{"hold tone", func(s *sender) error { return s.writeAudio(make([]byte, 240), 0, lawU) }},
		{"pause", func(s *sender) error {
			s.pack.lastIn = s.pack.lastIn.Add(-time.Second)
			return s.writeAudioFrom(chanContact, make([]byte, 240), 0, lawU)
		}},
		{"event", func(s *sender) error {
			s.inEvent = true
			_ = s.writeAudioFrom(chanContact, make([]byte, 240), 0, lawU)
			s.inEvent = false
			return s.writeAudioFrom(chanContact, make([]byte, 240), 0, lawU)
		}},
		{"topology", func(s *sender) error {
			s.dropPending()
			return s.writeAudioFrom(chanContact, make([]byte, 240), 0, lawU)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newCaptureSender(audioSDP("a=ptime:20\r\n"))
			first := bytes.Repeat([]byte{0x55}, 240)
			if err := s.writeAudioFrom(chanContact, first, 0, lawU); err != nil {
				t.Fatal(err)
			}
			if err := tc.change(s); err != nil {
				t.Fatal(err)
			}
			if len(c.pkts) != 2 {
				t.Fatalf("%d packets, want 2 (one of each stream)", len(c.pkts))
			}
			if p := c.pkts[1].Payload; bytes.Contains(p, []byte{0x55}) {
				t.Errorf("the second packet carries the first stream's tail: % x", p[:8])
			}
			if n := len(s.pack.pending); n != 80 {
				t.Errorf("pending %d, want the new stream's 80", n)
			}
		})
	}
}

// A pause restarts the talkspurt: the timestamp jumps by the time that
// passed and the marker is set, with long packets as with 20 ms ones.
func TestRechunkResyncLongPackets(t *testing.T) {
	s, c := newCaptureSender(audioSDP("a=ptime:60\r\n"))
	for range 6 {
		_ = s.writeAudioFrom(chanContact, make([]byte, 160), 0, lawU)
	}
	// 60 ms packets 70 ms apart are no pause.
	s.mu.Lock()
	s.last = s.last.Add(-70 * time.Millisecond)
	s.mu.Unlock()
	for range 3 {
		_ = s.writeAudioFrom(chanContact, make([]byte, 160), 0, lawU)
	}
	s.mu.Lock()
	s.last = s.last.Add(-time.Second)
	s.pack.lastIn = s.pack.lastIn.Add(-time.Second)
	s.mu.Unlock()
	for range 3 {
		_ = s.writeAudioFrom(chanContact, make([]byte, 160), 0, lawU)
	}
	if len(c.pkts) != 4 {
		t.Fatalf("%d packets, want 4", len(c.pkts))
	}
	for i := 1; i < 3; i++ {
		if d := c.pkts[i].Timestamp - c.pkts[i-1].Timestamp; d != 480 || c.pkts[i].Marker {
			t.Errorf("packet %d: +%d marker %v, want +480 and no marker", i, d, c.pkts[i].Marker)
		}
	}
	if d := c.pkts[3].Timestamp - c.pkts[2].Timestamp; d < 8000 || !c.pkts[3].Marker {
		t.Errorf("after a second's pause: +%d marker %v, want ≥ +8000 and the marker", d, c.pkts[3].Marker)
	}
}

// discard is an RTP writer that sends nowhere.
type discard struct{}

func (discard) WriteRTP(*rtp.Packet) error { return nil }

// BenchmarkSendPtime is what a leg's sender costs per payload forwarded to
// it (RTP marshalling included, the socket aside), as it is and cut to the
// ptime the leg asked for:
//
//	go test -run '^$' -bench SendPtime -benchmem ./sip/
//
// "as is" is the cost before repacketisation (the payload's length is the
// one asked); the others are the same stream re-chunked or transcoded.
func BenchmarkSendPtime(b *testing.B) {
	tone := make([]byte, 2*480) // 60 ms of 16-bit PCM
	for k := range 480 {
		v := int16(8000 * math.Sin(2*math.Pi*400*float64(k)/8000))
		binary.LittleEndian.PutUint16(tone[2*k:], uint16(v))
	}
	ulaw := lawU.encode(nil, tone)
	for _, bc := range []struct {
		name  string
		asked string // a=ptime
		in    int    // samples per payload received
		to    law    // the leg's law (the payloads are PCMU)
	}{
		{"20ms as is", "20", 160, lawU},
		{"30ms as is", "30", 240, lawU},
		{"30ms to 20ms", "20", 240, lawU},
		{"20ms to 30ms", "30", 160, lawU},
		{"10ms to 20ms", "20", 80, lawU},
		{"PCMU 20ms to PCMA 20ms", "20", 160, lawA},
		{"PCMU 30ms to PCMA 20ms", "20", 240, lawA},
		{"PCMU 20ms to Opus 20ms", "20", 160, lawOpus},
		{"PCMU 30ms to Opus 20ms", "20", 240, lawOpus},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if bc.to == lawOpus && !opusSupported {
				b.Skip("built without libopus")
			}
			e := &endpoint{out: sender{w: media.NewRTPPacketWriter(discard{}, media.CodecAudioUlaw)}}
			e.out.pack.askFor([]byte(audioSDP("a=ptime:" + bc.asked + "\r\n")))
			payload := ulaw[:bc.in]
			var pcm, out []byte
			b.ReportAllocs()
			for b.Loop() {
				// What forward does with a payload for this leg.
				switch bc.to {
				case lawU:
					_ = e.out.writeAudioFrom(chanContact, payload, 0, lawU)
				case lawOpus:
					pcm = lawU.decode(pcm[:0], payload)
					_ = e.writePCMOpus(chanContact, pcm, 111)
				default:
					pcm = lawU.decode(pcm[:0], payload)
					out = e.encode(bc.to, out[:0], pcm)
					_ = e.out.writeAudioFrom(chanContact, out, 8, bc.to)
				}
			}
			per := b.Elapsed() / time.Duration(b.N)
			fmt.Printf("send %s: %d ns per payload received\n", bc.name, per.Nanoseconds())
		})
	}
}
