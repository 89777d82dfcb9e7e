package sip_test

import (
	"sync"
	"sync/atomic"
	"time"
)

// seqMeter times streams whose payload carries no send time: audio that the
// gateway transcoded (a browser's Opus to the contact's PCMU, and back).
// In the window (by arrival), a stream's frames received count against the
// sequence numbers they span, so a frame lost on the way counts; jitter is
// |arrival gap - 20 ms|, as rtpMeter's.
type seqMeter struct {
	start, end atomic.Int64 // window, unix ns; start 0: none

	mu             sync.Mutex
	streams        map[uint32]*seqStream
	recv, expected int64
	jitter         histogram
}

type seqStream struct {
	seq     uint16
	arrival time.Time
}

func (m *seqMeter) window(start time.Time, d time.Duration) {
	m.start.Store(0)
	m.mu.Lock()
	m.recv, m.expected = 0, 0
	m.jitter.reset()
	m.mu.Unlock()
	m.end.Store(start.Add(d).UnixNano())
	m.start.Store(start.UnixNano())
}

func (m *seqMeter) close() { m.start.Store(0) }

// arrived records frame seq of stream id, arrived at at.
func (m *seqMeter) arrived(id uint32, seq uint16, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.streams == nil {
		m.streams = map[uint32]*seqStream{}
	}
	s := m.streams[id]
	if s == nil {
		m.streams[id] = &seqStream{seq: seq, arrival: at}
		return
	}
	step := seq - s.seq // modulo 2^16
	ns := at.UnixNano()
	if st := m.start.Load(); st != 0 && ns >= st && ns < m.end.Load() && step > 0 && step < 1000 {
		m.recv++
		m.expected += int64(step)
		m.jitter.add((at.Sub(s.arrival) - frameDur).Abs())
	}
	if step > 0 && step < 1000 { // not a late or duplicated frame
		s.seq, s.arrival = seq, at
	}
}

func (m *seqMeter) loss() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.expected == 0 {
		return 1
	}
	return max(0, 1-float64(m.recv)/float64(m.expected))
}

func (m *seqMeter) frames() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.recv
}

// plausibleSendTime says whether a payload's first 8 bytes are a send time
// (benchUA's frames, forwarded as they were) rather than transcoded audio.
func plausibleSendTime(sentAt int64, read time.Time) bool {
	now := read.UnixNano()
	return sentAt > now-int64(time.Minute) && sentAt <= now+int64(time.Second)
}

// pooledLoss is the share of the meters' frames lost, all together.
func pooledLoss(ms ...*seqMeter) float64 {
	var recv, expected int64
	for _, m := range ms {
		m.mu.Lock()
		recv, expected = recv+m.recv, expected+m.expected
		m.mu.Unlock()
	}
	if expected == 0 {
		return 1
	}
	return max(0, 1-float64(recv)/float64(expected))
}
