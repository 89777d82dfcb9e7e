package sip

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"
)

func pcmOf(vs ...int16) []byte {
	b := make([]byte, 2*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

func TestMixInto(t *testing.T) {
	frames := [][]byte{pcmOf(1000, -30000, 5), pcmOf(2000, -10000, 7), pcmOf(30000, 20000, 11)}
	for _, c := range []struct {
		name string
		have []bool
		skip int
		want []byte
		any  bool
	}{
		{"the two others, clipped", []bool{true, true, true}, chanParty, pcmOf(3000, -32768, 12), true},
		{"one other", []bool{true, false, true}, chanParty, pcmOf(1000, -30000, 5), true},
		{"the listener's own voice left out", []bool{true, true, true}, chanAgent, pcmOf(32000, 10000, 18), true},
		{"clipped high", []bool{true, false, true}, chanContact, pcmOf(31000, -10000, 16), true},
		{"nobody else spoke", []bool{true, false, false}, chanAgent, nil, false},
	} {
		dst := make([]byte, 6)
		got := mixInto(dst, frames, c.have, c.skip)
		if got != c.any || (c.any && string(dst) != string(c.want)) {
			t.Errorf("%s: %v %v, want %v %v", c.name, got, dst, c.any, c.want)
		}
	}
}

func TestMixerQueueBounded(t *testing.T) {
	m := &mixer{}
	frame := make([]byte, 2*frameSamples)
	for range 20 {
		m.add(chanAgent, frame)
	}
	if n := len(m.queued[chanAgent]); n != mixBacklog {
		t.Errorf("queued %d bytes after a burst, want the backlog bound %d", n, mixBacklog)
	}
}

// BenchmarkConferenceTick is the mixer's work for one conference every
// 20 ms: three 20 ms frames in, three mixes encoded to PCMU out (sending
// aside). It prints how many conferences one core could mix.
func BenchmarkConferenceTick(b *testing.B) {
	frames := make([][]byte, numChans)
	for i := range frames {
		frames[i] = make([]byte, 2*frameSamples)
		for k := 0; k < frameSamples; k++ {
			binary.LittleEndian.PutUint16(frames[i][2*k:], uint16(int16(1000*(i+1)*(k%7-3))))
		}
	}
	have := []bool{true, true, true}
	sum := make([]byte, 2*frameSamples)
	var out []byte
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for to := range frames {
			mixInto(sum, frames, have, to)
			out = lawU.encode(out[:0], sum)
		}
	}
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(per.Nanoseconds())/1000, "µs/tick")
	if per > 0 {
		fmt.Printf("conference mixing: %.1f µs per 20 ms tick, so one core mixes about %d conferences (decoding and sending aside)\n",
			float64(per.Nanoseconds())/1000, int64(frameDur/per))
	}
}
