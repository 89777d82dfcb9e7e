//go:build opus

package sip

import (
	"encoding/binary"
	"sync"

	"gopkg.in/hraban/opus.v2"
)

// Opus through libopus (cgo; build with -tags opus,nolibopusfile and
// libopus-dev installed). Each leg has its own decoder (the state of what it
// sends) and encoder (of what it is sent), both at 8 kHz mono: Opus decodes
// to and encodes from any of its rates, so the bridge's 8 kHz audio needs no
// resampling. A failure on one packet drops that packet, as a lost one.
const opusSupported = true

// The encoder's application, complexity (0 to 10) and bit rate: see
// encode.
const (
	opusApplication = opus.AppRestrictedLowdelay
	opusComplexity  = 0
	opusBitrate     = 24000
)

// opusMaxSamples is the longest packet's samples at 8 kHz: 120 ms.
const opusMaxSamples = 120 * sampleRate / 1000

type opusCodec struct {
	mu      sync.Mutex // the bridge's readers, the mixer and the hold tone may share a leg
	dec     *opus.Decoder
	enc     *opus.Encoder
	samples []int16
	packet  []byte
}

// opusFrame says whether n samples at 8 kHz make an Opus frame: 2.5, 5, 10,
// 20, 40 or 60 ms.
func opusFrame(n int) bool {
	switch n {
	case 20, 40, 80, 160, 320, 480:
		return true
	}
	return false
}

func (o *opusCodec) decode(dst, payload []byte) []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dec == nil {
		dec, err := opus.NewDecoder(sampleRate, 1)
		if err != nil {
			return dst
		}
		o.dec, o.samples = dec, make([]int16, opusMaxSamples)
	}
	n, err := o.dec.Decode(payload, o.samples)
	if err != nil {
		return dst
	}
	for _, v := range o.samples[:n] {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(v))
	}
	return dst
}

func (o *opusCodec) encode(dst, pcm []byte) []byte {
	n := len(pcm) / 2
	if !opusFrame(n) {
		return dst // not a frame Opus can carry: dropped
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.enc == nil {
		enc, err := opus.NewEncoder(sampleRate, 1, opusApplication)
		if err != nil {
			return dst
		}
		// The encoder was most of a browser leg's CPU (issue 15's bench):
		// about 90 µs a frame in VoIP mode (SILK) at libopus's default
		// complexity, 9; 13 µs in restricted low-delay mode (CELT only) at
		// complexity 1; 9 µs at 0 with 24 kb/s (BenchmarkOpusEncode). Bits
		// are cheaper than cycles here: at 24 kb/s (a third of G.711's 64)
		// CELT at 0 keeps the spectrum the browser hears far closer than
		// SILK at 9 did at its default rate
		// (TestOpusComplexityKeepsTheSpectrum), with 2.5 ms of look-ahead
		// where SILK takes 6.5.
		_ = enc.SetComplexity(opusComplexity)
		_ = enc.SetBitrate(opusBitrate)
		o.enc, o.packet = enc, make([]byte, 1500)
		if len(o.samples) < opusMaxSamples {
			o.samples = make([]int16, opusMaxSamples)
		}
	}
	for i := range n {
		o.samples[i] = int16(binary.LittleEndian.Uint16(pcm[2*i:]))
	}
	m, err := o.enc.Encode(o.samples[:n], o.packet)
	if err != nil {
		return dst
	}
	return append(dst, o.packet[:m]...)
}
