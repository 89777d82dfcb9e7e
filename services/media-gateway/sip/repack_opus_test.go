//go:build opus

package sip_test

import (
	"context"
	"testing"

	"github.com/emiago/diago/media"
	"gopkg.in/hraban/opus.v2"
)

// The trunk's 30 ms G.711 packets to a phone speaking Opus that asked for
// 20 ms: 30 ms is no Opus frame, so the gateway cuts the decoded audio into
// 20 ms and encodes each (before, it could encode none and the phone heard
// nothing).
func TestTrunk30msToOpusPhone(t *testing.T) {
	t.Parallel()
	contact := startGoUAWith(t, sendsLongPackets(trunkStream(8000*10), 240))
	var agentGot taps
	agent := startGoUAWith(t, agentGot.tapPackets, media.CodecAudioOpus)
	got := agentGot.got
	g := startGateway(t, contact.Addr, nil)
	call, err := g.Dial(context.Background(), "ptime-opus", "sip:agent1@"+agent.Addr, number, nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer func() { _ = call.Hangup(context.Background()) }() // ended already, perhaps

	const want = 75 // 1.5 s
	waitUntil(t, "the Opus phone receiving 1.5 s of the trunk's audio", func() bool { return len(got()) >= want })
	dec, err := opus.NewDecoder(48000, 1)
	if err != nil {
		t.Fatal(err)
	}
	var pcm []float64
	buf := make([]int16, 5760)
	pkts := got()
	resyncs := 0
	for i, p := range pkts {
		if p.pt != media.CodecAudioOpus.PayloadType {
			t.Fatalf("packet %d: payload type %d, want Opus", i, p.pt)
		}
		if i > 0 {
			// A stall on the way restarts the talkspurt (see
			// TestTrunk30msToPhone20ms).
			switch d := p.ts - pkts[i-1].ts; {
			case p.marker && d > 960:
				resyncs++
			case d != 960 || p.marker:
				t.Errorf("packet %d: timestamp +%d marker %v, want +960 (20 ms at 48 kHz) in a talkspurt", i, d, p.marker)
			}
		}
		n, err := dec.Decode(p.payload, buf)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if n != 960 {
			t.Errorf("packet %d: %d samples, want 960 (20 ms)", i, n)
		}
		if i >= 10 { // past the encoder's start
			for _, v := range buf[:n] {
				pcm = append(pcm, float64(v))
			}
		}
	}
	if resyncs > len(pkts)/10 {
		t.Errorf("%d talkspurts restarted in %d packets: the stream is not continuous", resyncs, len(pkts))
	}
	if tone, other := tonePower(pcm, 48000, toneHz), tonePower(pcm, 48000, 1700); tone < 20*other {
		t.Errorf("the phone hears %.3g at %d Hz, %.3g at 1700 Hz: not the trunk's tone", tone, toneHz, other)
	}
}
