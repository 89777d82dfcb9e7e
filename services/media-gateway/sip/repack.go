package sip

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	sipgosip "github.com/emiago/sipgo/sip"
)

// Repacketisation: each leg is sent packets of the length its SDP asked for
// (RFC 4566 6: a=ptime is the packet time the receiver wants, a=maxptime the
// longest it takes), whatever length the other leg sends. A trunk sending
// 30 ms packets to a phone that asked for 20 ms would otherwise make the
// phone's jitter buffer and echo canceller work with frames they did not
// negotiate; some phones play such packets badly or not at all.
//
// G.711 is re-chunked without decoding (a byte a sample) when the laws are
// the same, after conversion when they differ. Opus cannot be cut: the PCM
// is chunked and each chunk encoded as one frame of the valid Opus duration
// nearest the asked ptime. What does not fill a packet waits for the next
// payload (less than one packet: never more than a ptime of added delay)
// and is dropped when the stream it belongs to stops: on a pause (hold,
// mute, loss), an RFC 4733 event, a change of who is heard (topology,
// hold tone, mixer) or of the codec sent.

const (
	// minPtime and maxPtime bound what a leg may ask: shorter packets
	// cost more headers than audio, longer ones more delay than any
	// phone means; outside, the G.711 default is used.
	minPtime = 10 * time.Millisecond
	maxPtime = 120 * time.Millisecond
	// stale is how long the audio pending outlives its stream: a pause
	// longer than any jitter (hold, mute) drops it, a stall on the way
	// (a busy machine) does not, so that the audio stays whole.
	stale = 300 * time.Millisecond
)

// srcLocal is the source of audio the gateway makes itself (hold tone,
// conference mix) rather than forwards from a leg (its channel).
const srcLocal = -1

// sdpPtime reads the audio stream's a=ptime and a=maxptime from an SDP body:
// media-level values win over session-level ones; 0 when absent or not a
// number.
func sdpPtime(body []byte) (ptime, maxptime time.Duration) {
	var sessP, sessMax time.Duration
	section := "session" // or the media type of the current m= line
	audioSeen := false
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m, ok := strings.CutPrefix(line, "m="); ok {
			if audioSeen && section == "audio" {
				break // the first audio stream is the one the bridge uses
			}
			section, _, _ = strings.Cut(m, " ")
			audioSeen = audioSeen || section == "audio"
			continue
		}
		if section != "session" && section != "audio" {
			continue
		}
		var dst *time.Duration
		switch {
		case strings.HasPrefix(line, "a=ptime:"):
			dst = &ptime
			if section == "session" {
				dst = &sessP
			}
		case strings.HasPrefix(line, "a=maxptime:"):
			dst = &maxptime
			if section == "session" {
				dst = &sessMax
			}
		default:
			continue
		}
		_, v, _ := strings.Cut(line, ":")
		if ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && ms > 0 && ms < 10000 {
			*dst = time.Duration(ms * float64(time.Millisecond))
		}
	}
	return cmp.Or(ptime, sessP), cmp.Or(maxptime, sessMax)
}

// packetDur is the packet time to send in law to a leg that asked for
// ptime and maxptime (0: not said): 20 ms by default, whole milliseconds,
// at most maxptime. For Opus, the valid frame duration (10, 20, 40 or
// 60 ms) nearest the ptime, not above maxptime.
func packetDur(l law, ptime, maxptime time.Duration) time.Duration {
	p := cmp.Or(ptime, frameDur)
	if maxptime > 0 && p > maxptime {
		p = maxptime
	}
	if p < minPtime || p > maxPtime {
		p = frameDur
	}
	p = p.Truncate(time.Millisecond)
	if l != lawOpus {
		return p
	}
	best := time.Duration(0)
	for _, d := range [...]time.Duration{10, 20, 40, 60} {
		d *= time.Millisecond
		if maxptime > 0 && d > maxptime && best != 0 {
			break
		}
		if best == 0 || (d-p).Abs() < (best-p).Abs() {
			best = d
		}
	}
	return best
}

// packer is one leg's repacketisation state; the leg's sender guards it.
type packer struct {
	// ptime and maxptime are what the leg's SDP asked for (0: not said).
	ptime, maxptime time.Duration
	offer           *reoffer // the leg's re-INVITEs, nil when not watched
	offerSeen       uint64   // the offer ptime comes from
	pending         []byte   // audio waiting to fill a packet: G.711, or PCM for Opus
	law             law      // of pending
	pt              uint8    // the payload type pending is sent with
	src             int      // the channel pending came from, or srcLocal
	lastIn          time.Time
	outDur          time.Duration // the length of the last packet sent
	enc             []byte        // an Opus packet being encoded
}

// askFor sets the packet time the leg asked for, from its SDP.
func (p *packer) askFor(sdp []byte) {
	p.ptime, p.maxptime = sdpPtime(sdp)
}

// size is the bytes of one packet of pending in law: G.711 bytes, or
// 16-bit PCM to encode as one Opus frame.
func (p *packer) size(l law) int {
	n := int(packetDur(l, p.ptime, p.maxptime) * sampleRate / time.Second)
	if l == lawOpus {
		return 2 * n
	}
	return n
}

// take readies pending for a payload from src, sent with pt in l: what is
// pending is dropped when it belongs to another stream or is stale (the
// stream paused).
func (p *packer) take(src int, pt uint8, l law, now time.Time) {
	if src != p.src || pt != p.pt || l != p.law || now.Sub(p.lastIn) > stale {
		p.drop()
		p.src, p.pt, p.law = src, pt, l
	}
	p.lastIn = now
}

// follow adopts the ptime of the phone's last re-INVITE once diago took
// it (the leg's media session changed since the offer came). An offer
// diago refused is adopted at the next change of session (our hold or
// refresh): phones do not re-offer what was refused, so this is left.
func (p *packer) follow() {
	r := p.offer
	if r == nil || r.seq.Load() == p.offerSeen {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dm.MediaSession() == r.before {
		return // not taken yet, or refused
	}
	if r.ptime != p.ptime || r.maxptime != p.maxptime {
		p.drop() // cut for the old length
	}
	p.ptime, p.maxptime, p.offerSeen = r.ptime, r.maxptime, r.seq.Load()
}

// drop forgets the audio pending.
func (p *packer) drop() { p.pending = p.pending[:0] }

// writeAudioFrom sends one audio payload in law from src (a channel, or
// srcLocal) as packets of the leg's ptime; it drops it while an event is
// sent. Opus payloads go as they are (see writePCMOpus).
func (s *sender) writeAudioFrom(src int, payload []byte, pt uint8, l law) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inEvent || s.w == nil || len(payload) == 0 {
		s.pack.drop() // the event's timestamps come between: never stitch across
		return nil
	}
	now := time.Now()
	s.pack.follow()
	if l == lawOpus {
		s.pack.drop()
		return s.send(payload, pt, l, now)
	}
	s.pack.take(src, pt, l, now)
	return s.chunk(payload, s.pack.size(l), func(b []byte) error { return s.send(b, pt, l, now) })
}

// writePCMOpus encodes 16-bit PCM from src into Opus packets of the leg's
// ptime and sends them.
func (e *endpoint) writePCMOpus(src int, pcm []byte, pt uint8) error {
	s := &e.out
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inEvent || s.w == nil || len(pcm) == 0 {
		s.pack.drop()
		return nil
	}
	now := time.Now()
	s.pack.follow()
	s.pack.take(src, pt, lawOpus, now)
	return s.chunk(pcm, s.pack.size(lawOpus), func(b []byte) error {
		s.pack.enc = e.opus.encode(s.pack.enc[:0], b)
		if len(s.pack.enc) == 0 {
			return nil // not encoded: lost, as a dropped packet
		}
		return s.send(s.pack.enc, pt, lawOpus, now)
	})
}

// chunk cuts pending+b into packets of size bytes, sends each whole one
// and keeps the rest pending. A payload of exactly size with nothing
// pending goes as it is, without a copy.
func (s *sender) chunk(b []byte, size int, send func([]byte) error) error {
	p := &s.pack
	var err error
	if len(p.pending) > 0 {
		need := size - len(p.pending)
		if len(b) < need {
			p.pending = append(p.pending, b...)
			return nil
		}
		p.pending = append(p.pending, b[:need]...)
		b = b[need:]
		err = send(p.pending)
		p.pending = p.pending[:0]
	}
	for len(b) >= size {
		if e := send(b[:size]); e != nil && err == nil {
			err = e
		}
		b = b[size:]
	}
	p.pending = append(p.pending, b...)
	return err
}

// send writes one packet; the caller holds s.mu.
func (s *sender) send(payload []byte, pt uint8, l law, now time.Time) error {
	s.clock = l.clock()
	marker := s.resync(now)
	ticks := l.ticks(payload)
	_, err := s.w.WriteSamples(payload, ticks, marker, pt)
	s.pack.outDur = time.Duration(ticks) * time.Second / time.Duration(s.clock)
	return err
}

// dropPending forgets what waits to fill a packet: who is heard changed.
func (s *sender) dropPending() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pack.drop()
}

// offerBook keeps, per dialog, the ptime of the SDP offers the phones send
// in re-INVITEs: diago applies an offer to the leg's media session but keeps
// no ptime, so the gateway reads it on the way in (screen) and the leg's
// sender adopts it once diago has taken the offer. Our own re-INVITEs
// (hold, retrieve, refresh) keep the ptime the leg asked for last.
type offerBook struct {
	m sync.Map // dialog ID → *reoffer
}

// reoffer is the last offer a phone made in one dialog.
type reoffer struct {
	dm  *diago.DialogMedia
	seq atomic.Uint64 // offers seen
	mu  sync.Mutex    // guards the fields below
	// ptime and maxptime of the offer; before is the leg's media session
	// when it came: a new session means diago took it.
	ptime, maxptime time.Duration
	before          *media.MediaSession
}

// watch lets the leg's sender follow the phone's re-INVITEs until its
// dialog ends.
func (b *offerBook) watch(l *leg, s *sender) {
	if b == nil || l.dialog == nil || l.media == nil {
		return
	}
	r := &reoffer{dm: l.media}
	id := l.dialog.ID
	b.m.Store(id, r)
	context.AfterFunc(l.dialog.Context(), func() { b.m.Delete(id) })
	s.mu.Lock()
	s.pack.offer = r
	s.mu.Unlock()
}

// offered notes the ptime of an in-dialog INVITE's SDP offer, before diago
// handles it.
func (b *offerBook) offered(req *sipgosip.Request) {
	if !req.IsInvite() || len(req.Body()) == 0 {
		return
	}
	id, err := sipgosip.DialogIDFromRequestUAC(req)
	if err != nil {
		return
	}
	v, ok := b.m.Load(id)
	if !ok {
		return
	}
	r := v.(*reoffer)
	p, m := sdpPtime(req.Body())
	r.mu.Lock()
	r.ptime, r.maxptime, r.before = p, m, r.dm.MediaSession()
	r.seq.Add(1)
	r.mu.Unlock()
}
