package sip

import (
	"cmp"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/audio"
	"github.com/emiago/diago/media"
	"github.com/pion/rtp"

	"github.com/ringback/ringback/services/media-gateway/rtplink"
)

// The gateway anchors the media of every call: each leg's RTP ends at the
// gateway, which forwards the audio payloads between the legs. That is what
// lets it hold (stop forwarding, play a tone to the contact), mute (drop the
// agent's audio), record (decode both directions) and send DTMF on the
// contact's stream. It speaks G.711 only (PCMU and PCMA, which it offers on
// every leg) and converts between them when the legs chose differently.

const (
	sampleRate = 8000 // G.711 (RFC 3551 4.5.14)
	// frameDur is the packet time the gateway sends at, the G.711 default.
	frameDur     = 20 * time.Millisecond
	frameSamples = sampleRate * int(frameDur/time.Millisecond) / 1000
)

// Channels of the bridge. A recording has two: the agent's side (chanAgent)
// and the other side (chanContact).
const (
	chanAgent = iota
	chanContact
	// chanParty is a third party: consulted, conferenced or transferred to.
	chanParty
	numChans
)

// law is an audio codec the bridge speaks: a G.711 companding law, or
// Opus when the gateway is built with libopus (opus.go); lawNone is anything
// else. Every law converts to and from the bridge's own audio, 16-bit PCM
// at 8 kHz: Opus decodes to and encodes from 8 kHz directly (RFC 7587 keeps
// its RTP clock at 48 kHz whatever the audio bandwidth).
type law uint8

const (
	lawNone law = iota
	lawU
	lawA
	lawOpus
)

func lawOf(c media.Codec) law {
	if strings.EqualFold(c.Name, "opus") && c.SampleRate == opusClock {
		if opusSupported {
			return lawOpus
		}
		return lawNone
	}
	if c.SampleRate != sampleRate || c.NumChannels > 1 {
		return lawNone
	}
	switch strings.ToLower(c.Name) {
	case "pcmu":
		return lawU
	case "pcma":
		return lawA
	}
	return lawNone
}

// clock is the law's RTP clock rate.
func (l law) clock() int {
	if l == lawOpus {
		return opusClock
	}
	return sampleRate
}

// ticks is how far a payload moves the RTP timestamp.
func (l law) ticks(payload []byte) uint32 {
	if l == lawOpus {
		return opusTicks(payload)
	}
	return uint32(len(payload)) // G.711: a byte a sample
}

// decode appends the 16-bit PCM of a payload received on the leg, in law.
func (e *endpoint) decode(l law, dst, payload []byte) []byte {
	if l == lawOpus {
		return e.opus.decode(dst, payload)
	}
	return l.decode(dst, payload)
}

// encode appends the payload of 16-bit PCM to send on the leg, in law.
func (e *endpoint) encode(l law, dst, pcm []byte) []byte {
	if l == lawOpus {
		return e.opus.encode(dst, pcm)
	}
	return l.encode(dst, pcm)
}

// decode appends the 16-bit little-endian PCM of a G.711 payload to dst.
func (l law) decode(dst, payload []byte) []byte {
	n := len(dst)
	dst = slices.Grow(dst, 2*len(payload))[:n+2*len(payload)]
	switch l {
	case lawU:
		_, _ = audio.DecodeUlawTo(dst[n:], payload)
	case lawA:
		_, _ = audio.DecodeAlawTo(dst[n:], payload)
	}
	return dst
}

// encode appends the G.711 encoding of 16-bit little-endian PCM to dst.
func (l law) encode(dst, pcm []byte) []byte {
	n := len(dst)
	dst = slices.Grow(dst, len(pcm)/2)[:n+len(pcm)/2]
	switch l {
	case lawU:
		_, _ = audio.EncodeUlawTo(dst[n:], pcm)
	case lawA:
		_, _ = audio.EncodeAlawTo(dst[n:], pcm)
	}
	return dst
}

// codecs is what one leg negotiated, as the bridge needs it.
type codecs struct {
	common []media.Codec // negotiated, with the remote's payload types
	send   media.Codec   // the audio codec we send
	law    law           // of send
	event  media.Codec   // telephone-event/8000, when hasEvent
	// hasEvent: the leg negotiated RFC 4733 events.
	hasEvent bool
}

// recvLaw is the law of a received payload type, lawNone for events,
// comfort noise or anything not negotiated.
func (c codecs) recvLaw(pt uint8) law {
	for _, k := range c.common {
		if k.PayloadTypeRecv() == pt {
			return lawOf(k)
		}
	}
	return lawNone
}

// endpoint is one leg's media as the bridge uses it.
type endpoint struct {
	role string
	dm   *diago.DialogMedia
	in   *media.RTPPacketReader
	link *rtplink.End // the leg's RTP in process, instead of in
	out  sender
	// pcm and enc are scratch for the packets received from the leg
	// (handle), used by one goroutine at a time.
	pcm, enc []byte
	opus     opusCodec  // the leg's Opus decoder and encoder, made on first use
	neg      codecCache // codecs() of the last media session seen
}

func newEndpoint(l *leg) *endpoint {
	// Both fields are set once when the leg is answered; a re-INVITE
	// swaps the session inside them.
	e := &endpoint{role: l.role, dm: l.media, in: l.media.RTPPacketReader, out: sender{w: l.media.RTPPacketWriter}}
	if l.link != nil {
		// The leg's RTP is in process: the bridge handles what the link
		// brings, and diago's packet writer writes to it (no re-INVITE
		// swaps either, as they do the media session's).
		codec := media.CodecAudioUlaw
		if ms := l.media.MediaSession(); ms != nil {
			codec = media.CodecAudioFromSession(ms)
		}
		e.in, e.link = nil, l.link
		e.out.w = media.NewRTPPacketWriter(l.link, codec)
		e.out.w.ClockDisable() // the bridge paces nothing: it forwards
	}
	if l.dialog != nil && l.dialog.InviteResponse != nil {
		e.out.pack.askFor(l.dialog.InviteResponse.Body()) // the packet time it wants
	}
	l.offers.watch(l, &e.out)
	return e
}

// codecs reads the leg's current negotiation: a re-INVITE (ours or the
// phone's) replaces diago's media session, never mutates it.
func (e *endpoint) codecs() codecs {
	ms := e.dm.MediaSession()
	if ms == nil {
		return codecs{}
	}
	return e.neg.get(ms) // codecsOf(ms), computed once per media session
}

// codecsOf reads a media session's negotiation.
func codecsOf(ms *media.MediaSession) codecs {
	c := codecs{common: ms.CommonCodecs(), send: media.CodecAudioFromSession(ms)}
	c.law = lawOf(c.send)
	for _, k := range c.common {
		if strings.EqualFold(k.Name, "telephone-event") && k.SampleRate == sampleRate {
			c.event, c.hasEvent = k, true
			break
		}
	}
	return c
}

// sender serialises what the gateway sends on one leg: forwarded audio, the
// hold tone and RFC 4733 events share the leg's RTP stream (one SSRC, one
// sequence), and diago's RTPPacketWriter is not safe for concurrent writes.
type sender struct {
	mu      sync.Mutex
	w       *media.RTPPacketWriter
	last    time.Time // when the last packet was sent
	clock   int       // RTP clock rate of the audio sent; 0 until some is
	inEvent bool      // an event is being sent: audio is dropped meanwhile
	pack    packer    // cuts the audio to the leg's ptime (repack.go)
}

// writeAudio sends one audio payload in law; it drops it while an event is
// sent.
func (s *sender) writeAudio(payload []byte, pt uint8, l law) error {
	return s.writeAudioFrom(srcLocal, payload, pt, l)
}

// resync keeps the RTP clock with the wall clock across pauses (hold, mute,
// lost packets): the timestamp jumps by the time that passed and the marker
// bit starts a new talkspurt (RFC 3551 4.1).
func (s *sender) resync(now time.Time) (marker bool) {
	first := s.last.IsZero()
	gap := now.Sub(s.last)
	s.last = now
	if first {
		return true
	}
	// The last packet's own length is in the timestamp already; a leg sent
	// long packets sees them that far apart.
	if per := cmp.Or(s.pack.outDur, frameDur); gap > 3*max(per, frameDur) {
		s.w.DelayTimestamp(uint32((gap - per) * time.Duration(cmp.Or(s.clock, sampleRate)) / time.Second))
		return true
	}
	return false
}

// topology says who hears whom. Every leg's reader consults it per packet,
// so a change takes effect at the next packet with no goroutine restarted.
type topology int32

const (
	// topoPair: agent and contact, the call as it was placed.
	topoPair topology = iota
	// topoConsult: the agent talks to the party; the contact is on hold.
	topoConsult
	// topoTransferred: the contact talks to the party; the agent has left.
	topoTransferred
	// topoConference: everyone hears everyone else, through the mixer.
	topoConference
)

// peer is where channel ch's audio goes in a two-way topology, -1 nowhere.
func (t topology) peer(ch int) int {
	pairs := [...][2]int{
		topoPair:        {chanAgent, chanContact},
		topoConsult:     {chanAgent, chanParty},
		topoTransferred: {chanParty, chanContact},
	}
	if int(t) >= len(pairs) {
		return -1
	}
	switch p := pairs[t]; ch {
	case p[0]:
		return p[1]
	case p[1]:
		return p[0]
	}
	return -1
}

// recChannel is the recording channel of ch's audio: the agent's side is
// whoever holds the call for the platform, the party once transferred. It
// is also whose audio Mute drops.
func (t topology) recChannel(ch int) int {
	if ch == chanAgent || (t == topoTransferred && ch == chanParty) {
		return chanAgent
	}
	return chanContact
}

// bridge forwards audio between the legs on goroutines it owns, one reader
// per leg, as the topology says.
type bridge struct {
	log  *slog.Logger
	legs [numChans]atomic.Pointer[endpoint] // by channel; nil: no such leg (now)
	topo atomic.Int32

	held  atomic.Bool // the contact is on hold: the pair forwards nothing
	muted atomic.Bool // forward nothing from the agent
	rec   atomic.Pointer[recorder]
	mix   atomic.Pointer[mixer] // set in a conference

	wg sync.WaitGroup
}

func newBridge(log *slog.Logger, agent, contact *leg) *bridge {
	b := &bridge{log: log}
	b.legs[chanAgent].Store(newEndpoint(agent))
	b.legs[chanContact].Store(newEndpoint(contact))
	return b
}

func (b *bridge) topology() topology { return topology(b.topo.Load()) }

func (b *bridge) setTopology(t topology) {
	b.topo.Store(int32(t))
	for i := range b.legs {
		if ep := b.legs[i].Load(); ep != nil {
			ep.out.dropPending() // what was cut for the old peer
		}
	}
}

// start forwards the agent's and the contact's audio until their media is
// closed.
func (b *bridge) start() {
	b.read(chanAgent)
	b.read(chanContact)
}

// attach adds the party's leg and reads it until its media is closed.
func (b *bridge) attach(ch int, l *leg) {
	b.legs[ch].Store(newEndpoint(l))
	b.read(ch)
}

// detach stops sending to channel ch; its reader ends when the leg's media
// is closed (hang-up).
func (b *bridge) detach(ch int) { b.legs[ch].Store(nil) }

func (b *bridge) read(ch int) {
	ep := b.legs[ch].Load()
	if ep.link != nil {
		// In process: the link's writer hands each packet to the bridge
		// on its own goroutine, until the leg's media closes the link.
		ep.link.Handle(func(p *rtp.Packet) { b.handle(ch, ep, p.Payload, p.PayloadType) })
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			<-ep.link.Done()
		}()
		return
	}
	if ep.in == nil {
		b.log.Warn("sip: leg without media, no audio from it", "leg", ep.role)
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.forward(ch, ep)
	}()
}

// wait returns once every reader has stopped: the legs' media must have
// been closed (hang up) first.
func (b *bridge) wait() { b.wg.Wait() }

// forward reads the packets of channel ch's leg and sends their audio where
// the topology says. It returns when the leg's media is closed.
func (b *bridge) forward(ch int, from *endpoint) {
	buf := make([]byte, media.RTPBufSize)
	for {
		n, err := from.in.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return
			}
			// A packet that does not parse, or a read interrupted by a
			// re-INVITE that diago did not resume: not the end of the call.
			b.log.Debug("sip: read RTP", "leg", from.role, "error", err)
			time.Sleep(time.Millisecond) // no busy loop on a persistent error
			continue
		}
		if n == 0 {
			continue // diago drops what arrives while we are sendonly
		}
		b.handle(ch, from, buf[:n], from.in.PacketHeader.PayloadType)
	}
}

// handle sends the audio of one packet from channel ch's leg where the
// topology says. One goroutine at a time handles a leg's packets: its
// reader, or the writer at the other end of its link.
func (b *bridge) handle(ch int, from *endpoint, payload []byte, pt uint8) {
	// Events, comfort noise and unknown payloads are not forwarded: the
	// other leg may use other payload types, and the DTMF the contact
	// hears is what SendDTMF sends.
	inLaw := from.codecs().recvLaw(pt)
	topo := b.topology()
	if inLaw == lawNone || (topo.recChannel(ch) == chanAgent && b.muted.Load()) {
		return
	}
	if topo == topoConference {
		if m := b.mix.Load(); m != nil {
			from.pcm = from.decode(inLaw, from.pcm[:0], payload)
			m.add(ch, from.pcm)
		}
		return
	}
	// On hold the pair is silent (the contact and whoever has the call:
	// the agent, or the agent it was transferred to); in a consultation
	// only the contact is held, and the topology already leaves them out.
	if (topo == topoPair || topo == topoTransferred) && b.held.Load() {
		return
	}
	peer := topo.peer(ch)
	if peer < 0 {
		return
	}
	to := b.legs[peer].Load()
	if to == nil {
		return
	}
	dst := to.codecs()
	if dst.law == lawNone {
		return
	}
	rec := b.rec.Load()
	if rec != nil || inLaw != dst.law {
		pcm := from.decode(inLaw, from.pcm[:0], payload)
		from.pcm = pcm
		if rec != nil {
			rec.add(topo.recChannel(ch), pcm)
		}
		if inLaw != dst.law && dst.law == lawOpus {
			// Opus frames are cut from the PCM, to the leg's ptime.
			if err := to.writePCMOpus(ch, pcm, dst.send.PayloadType); err != nil {
				b.log.Debug("sip: write RTP", "leg", to.role, "error", err)
			}
			return
		}
		if inLaw != dst.law {
			from.enc = to.encode(dst.law, from.enc[:0], pcm)
			payload = from.enc
		}
	}
	if err := to.out.writeAudioFrom(ch, payload, dst.send.PayloadType, dst.law); err != nil {
		b.log.Debug("sip: write RTP", "leg", to.role, "error", err)
	}
}
