package sip

import (
	"encoding/binary"
	"sync"
	"time"
)

// The conference mixer. In a three-way call every leg must hear the sum of
// the two others, which no forwarding of packets can give: the legs' readers
// decode what arrives into a queue per channel, and every frameDur the mixer
// takes one frame from each queue, adds them for each listener (leaving out
// the listener's own voice), and sends the result in the listener's codec.
//
// The queues absorb the legs' jitter: a channel is only mixed once it has
// queued a frame, and one that fell behind (a stall, then a burst) keeps at
// most mixBacklog, dropping its oldest audio, so the delay it adds is
// bounded.
const mixBacklog = 5 * 2 * frameSamples // bytes of 16-bit PCM: 100 ms

// mixer mixes the conference until stop. add is called by the bridge's
// readers.
type mixer struct {
	b *bridge

	mu     sync.Mutex
	queued [numChans][]byte // 16-bit PCM per channel, not yet mixed

	quit chan struct{}
	done chan struct{}
}

func startMixer(b *bridge) *mixer {
	m := &mixer{b: b, quit: make(chan struct{}), done: make(chan struct{})}
	go m.run()
	return m
}

// stop ends the mixing and waits until it sends no more.
func (m *mixer) stop() {
	close(m.quit)
	<-m.done
}

func (m *mixer) add(ch int, pcm []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := append(m.queued[ch], pcm...)
	if over := len(q) - mixBacklog; over > 0 {
		q = q[over+over%2:] // whole samples
	}
	m.queued[ch] = q
}

func (m *mixer) run() {
	defer close(m.done)
	tick := time.NewTicker(frameDur)
	defer tick.Stop()
	var (
		frames [numChans][]byte
		have   [numChans]bool
		sum    = make([]byte, 2*frameSamples)
		out    []byte
	)
	for i := range frames {
		frames[i] = make([]byte, 2*frameSamples)
	}
	for {
		select {
		case <-m.quit:
			return
		case <-tick.C:
		}
		m.mu.Lock()
		for ch := range frames {
			q := m.queued[ch]
			have[ch] = len(q) >= len(frames[ch])
			if have[ch] {
				copy(frames[ch], q)
				m.queued[ch] = q[:copy(q, q[len(frames[ch]):])]
			}
		}
		m.mu.Unlock()

		if rec := m.b.rec.Load(); rec != nil {
			// The agent's side, and the two others as the agent hears them.
			if mixInto(sum, frames[:], have[:], chanAgent) {
				rec.add(chanContact, sum)
			}
			if have[chanAgent] {
				rec.add(chanAgent, frames[chanAgent])
			}
		}
		for to := range frames {
			ep := m.b.legs[to].Load()
			if ep == nil || !mixInto(sum, frames[:], have[:], to) {
				continue
			}
			dst := ep.codecs()
			if dst.law == lawNone {
				continue
			}
			out = ep.encode(dst.law, out[:0], sum)
			if err := ep.out.writeAudio(out, dst.send.PayloadType, dst.law); err != nil {
				m.b.log.Debug("sip: write mixed RTP", "leg", ep.role, "error", err)
			}
		}
	}
}

// mixInto sets dst to the sum of the frames of every channel but skip,
// clipped to 16 bits, and says whether there was any.
func mixInto(dst []byte, frames [][]byte, have []bool, skip int) bool {
	n := 0
	for ch := range frames {
		if ch == skip || !have[ch] {
			continue
		}
		if n == 0 {
			copy(dst, frames[ch])
			n++
			continue
		}
		for i := 0; i+1 < len(dst); i += 2 {
			v := int32(int16(binary.LittleEndian.Uint16(dst[i:]))) + int32(int16(binary.LittleEndian.Uint16(frames[ch][i:])))
			binary.LittleEndian.PutUint16(dst[i:], uint16(int16(max(-32768, min(32767, v)))))
		}
		n++
	}
	return n > 0
}
