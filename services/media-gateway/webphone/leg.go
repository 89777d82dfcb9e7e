package webphone

import (
	"sync/atomic"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/pion/rtp"

	"github.com/ringback/ringback/services/media-gateway/rtplink"
)

// legMedia is the gateway's leg as the browser's audio crosses it: the
// leg's own RTP (loopback UDP), or, with Config.Links, the in-process link
// the gateway joined for the same dialog.
type legMedia struct {
	med  *diago.DialogMedia
	link *rtplink.End // nil: the leg's own RTP
	neg  atomic.Pointer[negotiated]
}

// negotiated is the audio codec of one media session of the leg.
type negotiated struct {
	ms *media.MediaSession
	c  media.Codec
}

// codec is the leg's audio codec, or false before it has a media session.
// It is read once per session: diago replaces the session on a re-INVITE
// and never changes a negotiated one, and reading it walks the session's
// codec list, which every packet, both ways, did.
func (l *legMedia) codec() (media.Codec, bool) {
	ms := l.med.MediaSession()
	if ms == nil {
		return media.Codec{}, false
	}
	if e := l.neg.Load(); e != nil && e.ms == ms {
		return e.c, true
	}
	c := media.CodecAudioFromSession(ms)
	l.neg.Store(&negotiated{ms: ms, c: c})
	return c, true
}

// legOf joins the link of the leg the gateway placed for call to agent,
// when links are on: the gateway's end is keyed by its RTP port, which is
// the answered session's remote one.
func (p *Phones) legOf(med *diago.DialogMedia, call, agent string) *legMedia {
	l := &legMedia{med: med}
	if ms := med.MediaSession(); p.cfg.Links != nil && ms != nil {
		l.link = p.cfg.Links.Join(rtplink.Key(call, agent, ms.Raddr.Port), rtplink.Callee)
	}
	return l
}

// toBrowser forwards the gateway's audio to the current browser
// connection (none while a dropped one is awaited) until the leg closes:
// from the link, on the gateway's goroutine, or read from the leg's RTP on
// one of its own, which closes done when it stops.
func (l *legMedia) toBrowser(to *atomic.Pointer[peer], closed <-chan struct{}, done chan<- struct{}) {
	if l.link == nil {
		go func() {
			defer close(done)
			l.readLeg(to, closed)
		}()
		return
	}
	l.link.Handle(func(p *rtp.Packet) { l.fromGateway(to, &p.Header, p.Payload) })
	close(done) // no goroutine: close stops the handler
}

// fromGateway sends one packet of the gateway's audio to the browser: the
// connection sets its own SSRC and payload type, the gateway's sequence
// and timestamps stand.
func (l *legMedia) fromGateway(to *atomic.Pointer[peer], h *rtp.Header, payload []byte) {
	pr := to.Load()
	if pr == nil {
		return
	}
	// The leg's audio only, not an event or comfort noise.
	if c, ok := l.codec(); ok && c.PayloadTypeRecv() == h.PayloadType {
		pr.send(h.Marker, h.SequenceNumber, h.Timestamp, payload)
	}
}

// write sends one packet of the browser's audio to the gateway, with the
// browser's sequence and timestamps (its pacing) under the leg's SSRC and
// payload type.
func (l *legMedia) write(pkt *rtp.Packet, h *rtp.Header, payload []byte) {
	c, ok := l.codec()
	if !ok {
		return
	}
	w := l.med.RTPPacketWriter
	pkt.Header = rtp.Header{Version: 2, Marker: h.Marker, PayloadType: c.PayloadType,
		SequenceNumber: h.SequenceNumber, Timestamp: h.Timestamp, SSRC: w.SSRC}
	pkt.Payload = payload
	if l.link != nil {
		_ = l.link.WriteRTP(pkt) // a full queue drops it, as UDP would
		return
	}
	_ = w.Writer().WriteRTP(pkt) // a leg closing under it: the call is ending
}

// close ends the link, if any (the leg's own RTP closes with the dialog).
func (l *legMedia) close() {
	if l.link != nil {
		_ = l.link.Close()
	}
}
