//go:build opus

package sip_test

import (
	"context"
	"encoding/binary"
	"math"
	"sync"
	"testing"

	"github.com/emiago/diago/audio"
	"github.com/emiago/diago/media"
	"gopkg.in/hraban/opus.v2"
)

// TestOpusLegBridgedToG711: an agent's phone that speaks only Opus, a
// contact on PCMU. Each sends a tone of its own pitch; each must hear the
// other's pitch through the gateway, which decodes and encodes Opus.
func TestOpusLegBridgedToG711(t *testing.T) {
	t.Parallel()
	const agentHz, contactHz = 1000, 400
	agent := startGoUA(t, agentMark, media.CodecAudioOpus)
	contact := startGoUA(t, contactMark)

	enc, err := opus.NewEncoder(48000, 2, opus.AppVoIP)
	if err != nil {
		t.Fatal(err)
	}
	agentFrame := func(i int) []byte {
		pcm := make([]int16, 2*960) // 20 ms stereo at 48 kHz
		for k := range 960 {
			v := int16(8000 * math.Sin(2*math.Pi*agentHz*float64(i*960+k)/48000))
			pcm[2*k], pcm[2*k+1] = v, v
		}
		out := make([]byte, 1500)
		n, err := enc.Encode(pcm, out)
		if err != nil {
			panic(err)
		}
		return out[:n]
	}
	dec, err := opus.NewDecoder(48000, 1)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var atAgent, atContact []float64
	agentTap := func(pt uint8, p []byte) {
		if pt != media.CodecAudioOpus.PayloadType {
			return
		}
		pcm := make([]int16, 5760)
		n, err := dec.Decode(p, pcm)
		if err != nil {
			return
		}
		mu.Lock()
		for _, v := range pcm[:n] {
			atAgent = append(atAgent, float64(v))
		}
		mu.Unlock()
	}
	contactFrame := func(i int) []byte {
		pcm := make([]byte, 320)
		for k := range 160 {
			v := int16(8000 * math.Sin(2*math.Pi*contactHz*float64(i*160+k)/8000))
			binary.LittleEndian.PutUint16(pcm[2*k:], uint16(v))
		}
		out := make([]byte, 160)
		_, _ = audio.EncodeUlawTo(out, pcm)
		return out
	}
	contactTap := func(pt uint8, p []byte) {
		if pt != 0 {
			return
		}
		mu.Lock()
		for _, b := range p {
			atContact = append(atContact, float64(pcmuSample(b)))
		}
		mu.Unlock()
	}

	agent.setHooks(agentFrame, agentTap)
	contact.setHooks(contactFrame, contactTap)
	g := startGateway(t, contact.Addr, nil)
	call, err := g.Dial(context.Background(), "opus-call", "sip:agent1@"+agent.Addr, number, nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer func() { _ = call.Hangup(context.Background()) }() // ended already, perhaps

	heard := func(what string, samples *[]float64, rate, hz, other float64, n int) {
		t.Helper()
		waitUntil(t, what, func() bool {
			mu.Lock()
			defer mu.Unlock()
			if len(*samples) < 2*n {
				return false
			}
			s := (*samples)[len(*samples)-n:] // steady state, past the start-up
			return goertzel(s, rate, hz) > 20*goertzel(s, rate, other)
		})
	}
	heard("the agent's 1 kHz tone at the contact (Opus to PCMU)", &atContact, 8000, agentHz, 1700, 4000)
	heard("the contact's 400 Hz tone at the agent (PCMU to Opus)", &atAgent, 48000, contactHz, 1700, 24000)
}

// goertzel is the power of frequency hz in samples taken at rate.
func goertzel(samples []float64, rate, hz float64) float64 {
	w := 2 * math.Pi * hz / rate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range samples {
		s1, s2 = x+c*s1-s2, s1
	}
	return s1*s1 + s2*s2 - c*s1*s2
}
