//go:build opus

package sip

import (
	"math"
	"math/rand"
	"strconv"
	"testing"

	"gopkg.in/hraban/opus.v2"
)

// The encoder toward browsers runs in opusApplication's mode at
// opusComplexity and opusBitrate, not libopus's VoIP default at 9: it was
// the largest share of a browser leg's CPU (issue 15's bench). This test
// holds the price of that choice on speech-like audio band-limited as a
// contact's G.711 is: the log-spectral distance of what a browser decodes
// from what was sent may not exceed the default's.
func TestOpusComplexityKeepsTheSpectrum(t *testing.T) {
	x := speechLike(4 * sampleRate)
	chosen, def := opusLSD(t, x, opusApplication, opusComplexity, opusBitrate), opusLSD(t, x, opus.AppVoIP, 9, 0)
	t.Logf("log-spectral distance, 125 Hz to 3.4 kHz: %.2f dB in mode %d at complexity %d and %d b/s, %.2f dB in VoIP mode at 9",
		chosen, opusApplication, opusComplexity, opusBitrate, def)
	if chosen > def {
		t.Errorf("complexity %d at %d b/s: %.2f dB of log-spectral distance, more than the default's %.2f", opusComplexity, opusBitrate, chosen, def)
	}
}

// BenchmarkOpusEncode is the cost of one 20 ms frame toward a browser.
func BenchmarkOpusEncode(b *testing.B) {
	x := speechLike(sampleRate)
	for _, c := range []struct {
		name string
		app  opus.Application
		cx   int
		br   int
	}{{"chosen", opusApplication, opusComplexity, opusBitrate}, {"voip", opus.AppVoIP, 9, 0}} {
		b.Run(c.name+"/complexity="+strconv.Itoa(c.cx), func(b *testing.B) {
			enc, err := opus.NewEncoder(sampleRate, 1, c.app)
			if err != nil {
				b.Fatal(err)
			}
			if err := enc.SetComplexity(c.cx); err != nil {
				b.Fatal(err)
			}
			if c.br > 0 {
				if err := enc.SetBitrate(c.br); err != nil {
					b.Fatal(err)
				}
			}
			pcm, out := make([]int16, 160), make([]byte, 1500)
			for i := 0; b.Loop(); i++ {
				f := (i * 160) % (len(x) - 160)
				for k := range pcm {
					pcm[k] = int16(x[f+k])
				}
				if _, err := enc.Encode(pcm, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// speechLike is n samples at 8 kHz of a voiced sound: harmonics of a
// gliding pitch under two moving formants, syllable-rate loudness, noise,
// up to 3.4 kHz.
func speechLike(n int) []float64 {
	r := rand.New(rand.NewSource(1))
	x := make([]float64, n)
	phase := 0.0
	for i := range x {
		tm := float64(i) / sampleRate
		f0 := 120 + 40*math.Sin(2*math.Pi*0.7*tm)
		phase += 2 * math.Pi * f0 / sampleRate
		v := 0.0
		for h := 1; float64(h)*f0 < 3400; h++ {
			f := float64(h) * f0
			f1, f2 := (f-700-200*math.Sin(tm))/300, (f-1500)/400
			amp := math.Exp(-f1*f1) + 0.6*math.Exp(-f2*f2) + 0.1
			v += amp / float64(h) * math.Sin(float64(h)*phase)
		}
		x[i] = 6000*(0.5+0.5*math.Sin(2*math.Pi*3*tm))*v + 200*r.NormFloat64()
	}
	return x
}

// opusLSD encodes x in 20 ms frames in mode app at complexity cx (and bit
// rate br, when not 0), decodes
// it, and returns the mean log-spectral distance (dB) of loud 32 ms frames.
func opusLSD(t *testing.T, x []float64, app opus.Application, cx, br int) float64 {
	t.Helper()
	enc, err := opus.NewEncoder(sampleRate, 1, app)
	if err != nil {
		t.Fatal(err)
	}
	if br > 0 {
		_ = enc.SetBitrate(br)
	}
	if err := enc.SetComplexity(cx); err != nil {
		t.Fatal(err)
	}
	dec, err := opus.NewDecoder(sampleRate, 1)
	if err != nil {
		t.Fatal(err)
	}
	var y []float64
	pcm, out, got := make([]int16, 160), make([]byte, 1500), make([]int16, 960)
	for f := 0; f+160 <= len(x); f += 160 {
		for k := range pcm {
			pcm[k] = int16(max(-32768, min(32767, x[f+k])))
		}
		m, err := enc.Encode(pcm, out)
		if err != nil {
			t.Fatal(err)
		}
		d, err := dec.Decode(out[:m], got)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range got[:d] {
			y = append(y, float64(s))
		}
	}
	lag := alignment(x, y)
	const size = 256
	var sum float64
	var frames int
	for f := sampleRate / 2; f+size+lag <= len(y) && f+size <= len(x); f += size / 2 {
		var energy float64
		for _, v := range x[f : f+size] {
			energy += v * v
		}
		if energy < size*1e5 {
			continue // a quiet frame: its distance is noise
		}
		var d2 float64
		const lo, hi = 4, 110 // 125 Hz to 3.4 kHz
		for bin := lo; bin < hi; bin++ {
			d := 10*math.Log10(power(x[f:f+size], bin)+1) - 10*math.Log10(power(y[f+lag:f+lag+size], bin)+1)
			d2 += d * d
		}
		sum += math.Sqrt(d2 / (hi - lo))
		frames++
	}
	if frames == 0 {
		t.Fatal("no loud frames")
	}
	return sum / float64(frames)
}

// alignment is the codec's delay: the lag of y that best matches x.
func alignment(x, y []float64) int {
	best, lag := math.Inf(-1), 0
	for l := range 400 {
		var c float64
		for k := sampleRate / 2; k < 2*sampleRate && k+l < len(y); k++ {
			c += x[k] * y[k+l]
		}
		if c > best {
			best, lag = c, l
		}
	}
	return lag
}

// power is the power of frequency bin of s under a Hann window.
func power(s []float64, bin int) float64 {
	var re, im float64
	n := len(s)
	for k, v := range s {
		w := (0.5 - 0.5*math.Cos(2*math.Pi*float64(k)/float64(n-1))) * v
		a := -2 * math.Pi * float64(bin*k) / float64(n)
		re += w * math.Cos(a)
		im += w * math.Sin(a)
	}
	return re*re + im*im
}

// browserNarrowbandBitrate is what a browser's WebRTC stack sends when the
// answer's maxplaybackrate is 8000: libwebrtc's default Opus bitrate for
// that playback rate (kOpusBitrateNbBps, audio_encoder_opus.cc).
const browserNarrowbandBitrate = 12000

// BenchmarkOpusDecode is the cost of one 20 ms frame from a browser,
// decoded to the bridge's 8 kHz: as a browser sends it when the answer says
// maxplaybackrate=8000 (narrowband, webphone's answer; at the encoder's
// default bitrate and at the 12 kb/s a browser's WebRTC stack uses), and
// fullband, as it would otherwise.
func BenchmarkOpusDecode(b *testing.B) {
	for _, c := range []struct {
		name    string
		bw      opus.Bandwidth
		bitrate int // 0: the encoder's default
	}{{"narrowband", opus.Narrowband, 0}, {"narrowband/12kbps", opus.Narrowband, browserNarrowbandBitrate}, {"fullband", opus.Fullband, 0}} {
		b.Run(c.name, func(b *testing.B) {
			enc, err := opus.NewEncoder(48000, 1, opus.AppVoIP) // a browser's
			if err != nil {
				b.Fatal(err)
			}
			if err := enc.SetMaxBandwidth(c.bw); err != nil {
				b.Fatal(err)
			}
			if c.bitrate > 0 {
				if err := enc.SetBitrate(c.bitrate); err != nil {
					b.Fatal(err)
				}
			}
			x := speechLike(sampleRate)
			pcm, out := make([]int16, 960), make([]byte, 1500)
			var frames [][]byte
			for f := 0; f+160 <= len(x); f += 160 {
				for k := range pcm { // 8 kHz speech, held to 48 kHz
					pcm[k] = int16(max(-32768, min(32767, x[f+k/6])))
				}
				n, err := enc.Encode(pcm, out)
				if err != nil {
					b.Fatal(err)
				}
				frames = append(frames, append([]byte(nil), out[:n]...))
			}
			dec, err := opus.NewDecoder(sampleRate, 1)
			if err != nil {
				b.Fatal(err)
			}
			got := make([]int16, opusMaxSamples)
			for i := 0; b.Loop(); i++ {
				if _, err := dec.Decode(frames[i%len(frames)], got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
