package webphone

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	sipgosip "github.com/emiago/sipgo/sip"
)

// ring is one call on one agent's browser, from the gateway's INVITE to
// the end of the call.
type ring struct {
	agent, call string
	offers      chan offer    // takes one offer
	hang        chan struct{} // closed when the browser hangs up or declines
	hangOnce    sync.Once
	over        chan struct{} // closed when the call is over here
	answered    atomic.Bool
}

type offer struct {
	sdp   string
	reply chan answer
}

type answer struct {
	sdp string
	err error
}

func (r *ring) hangup()          { r.hangOnce.Do(func() { close(r.hang) }) }
func (r *ring) isAnswered() bool { return r.answered.Load() }

func (r *ring) hungUp() bool {
	select {
	case <-r.hang:
		return true
	default:
		return false
	}
}

// byeTimeout bounds a BYE to the gateway.
const byeTimeout = 5 * time.Second

// serve is one INVITE from the gateway: it rings until the browser's offer,
// then bridges the browser's audio to the leg until either side hangs up.
func (p *Phones) serve(d *diago.DialogServerSession) {
	agent := d.ToUser()
	var call string
	if h := d.InviteRequest.GetHeader(CallHeader); h != nil {
		call = h.Value()
	}
	if agent == "" || call == "" {
		_ = d.Respond(sipgosip.StatusNotFound, "Not Found", nil)
		return
	}
	codec, ok := sipCodec(string(d.InviteRequest.Body()))
	if !ok {
		_ = d.Respond(sipgosip.StatusNotAcceptableHere, "Opus or PCMU required", nil)
		return
	}
	r := &ring{agent: agent, call: call, offers: make(chan offer, 1), hang: make(chan struct{}), over: make(chan struct{})}
	// One call may ring two browsers here: its agent's, and a colleague's
	// they consult or transfer to (issue 15).
	key := ringKey{agent: agent, call: call}
	p.mu.Lock()
	if _, dup := p.rings[key]; dup {
		p.mu.Unlock()
		_ = d.Respond(sipgosip.StatusBusyHere, "Busy Here", nil)
		return
	}
	p.rings[key] = r
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.rings, key)
		p.mu.Unlock()
		close(r.over)
	}()
	log := p.log.With("call", call, "agent", agent)
	_ = d.Trying()
	if err := d.Ringing(); err != nil {
		return
	}
	timer := time.NewTimer(p.cfg.RingTimeout)
	defer timer.Stop()
	var (
		o   offer
		pr  *peer
		sdp string
	)
	for pr == nil {
		select {
		case o = <-r.offers:
		case <-r.hang:
			_ = d.Respond(603, "Decline", nil)
			return
		case <-timer.C:
			_ = d.Respond(sipgosip.StatusTemporarilyUnavailable, "Browser did not answer", nil)
			return
		case <-d.Context().Done(): // CANCEL
			return
		}
		var err error
		if pr, sdp, err = p.newPeer(o.sdp, codec); err != nil {
			// A bad offer is the browser's to correct: the call rings on.
			o.reply <- answer{err: err}
		}
	}
	r.answered.Store(true)
	med, err := d.Answer(diago.AnswerOptions{Codecs: []media.Codec{codec}})
	if err != nil {
		o.reply <- answer{err: fmt.Errorf("answer the gateway: %w", err)}
		pr.close()
		pr.wait()
		return
	}
	o.reply <- answer{sdp: sdp}
	log.Info("webphone: answered in the browser", "codec", codec.Name)
	leg := p.legOf(med, call, agent)
	// One reader of the leg for the call's life, writing to whichever
	// browser connection is current: a connection replaced after a reload
	// must not leave a second reader on the leg.
	var track atomic.Pointer[peer]
	track.Store(pr)
	pumped, legClosed := make(chan struct{}), make(chan struct{})
	leg.toBrowser(&track, legClosed, pumped)
	pr.bridge(leg)
	for {
		select {
		case <-d.Context().Done(): // the gateway hung up
		case <-r.hang:
			log.Info("webphone: the browser hung up")
		case o := <-r.offers:
			// The agent's desktop, reloaded before its old connection was
			// seen to go: the new connection replaces it.
			next, sdp, err := p.newPeer(o.sdp, codec)
			if err != nil {
				o.reply <- answer{err: err}
				continue
			}
			track.Store(nil)
			pr.close()
			pr.wait()
			o.reply <- answer{sdp: sdp}
			pr = next
			track.Store(pr)
			pr.bridge(leg)
			log.Info("webphone: the browser took the call back")
			continue
		case <-pr.failed:
			// A reload or a network change, not a hang-up: the call waits
			// for the agent's desktop to take it back with a new offer.
			track.Store(nil)
			pr.close()
			pr.wait()
			log.Info("webphone: the browser's connection went; holding the call for it", "why", pr.why, "grace", p.cfg.ReconnectGrace)
			next, ended := p.reconnect(r, d, codec)
			if next != nil {
				pr = next
				track.Store(pr)
				pr.bridge(leg)
				log.Info("webphone: the browser took the call back")
				continue
			}
			log.Info("webphone: " + ended)
		}
		break
	}
	if d.Context().Err() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
		_ = d.Hangup(ctx)
		cancel()
	}
	pr.close()
	_ = med.Close()
	leg.close()
	close(legClosed)
	pr.wait()
	<-pumped
}

// reconnect waits, for the reconnect grace, for the agent's browser to
// offer a new connection for the call it dropped. Without one, it says how
// the wait ended. A bad offer is answered with its error and the wait goes
// on.
func (p *Phones) reconnect(r *ring, d *diago.DialogServerSession, codec media.Codec) (*peer, string) {
	grace := time.NewTimer(p.cfg.ReconnectGrace)
	defer grace.Stop()
	for {
		select {
		case o := <-r.offers:
			pr, sdp, err := p.newPeer(o.sdp, codec)
			if err != nil {
				o.reply <- answer{err: err}
				continue
			}
			o.reply <- answer{sdp: sdp}
			return pr, ""
		case <-r.hang:
			return nil, "the browser hung up"
		case <-grace.C:
			return nil, "the browser did not come back within the reconnect grace"
		case <-d.Context().Done():
			return nil, "the gateway hung up while the browser was away"
		}
	}
}

// sipCodec is what the leg will carry: Opus when the gateway offers it,
// else PCMU; the browser is made to send the same.
func sipCodec(offerSDP string) (media.Codec, bool) {
	lower := strings.ToLower(offerSDP)
	switch {
	case strings.Contains(lower, " opus/48000"):
		return media.CodecAudioOpus, true
	case strings.Contains(lower, " pcmu/8000"), strings.Contains(lower, "m=audio") && hasStaticPCMU(lower):
		return media.CodecAudioUlaw, true
	}
	return media.Codec{}, false
}

// hasStaticPCMU: payload type 0 on the m= line needs no rtpmap.
func hasStaticPCMU(sdp string) bool {
	for _, line := range strings.Split(sdp, "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[0] == "m=audio" {
			for _, pt := range f[3:] {
				if pt == "0" {
					return true
				}
			}
		}
	}
	return false
}

// readLeg forwards the gateway's audio payloads, read from the leg's own
// RTP, to the current browser connection until the leg closes.
func (l *legMedia) readLeg(to *atomic.Pointer[peer], closed <-chan struct{}) {
	buf := make([]byte, media.RTPBufSize)
	r := l.med.RTPPacketReader
	for {
		n, err := r.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-closed:
				return
			default:
			}
			time.Sleep(time.Millisecond)
			continue
		}
		if n > 0 {
			l.fromGateway(to, &r.PacketHeader, buf[:n])
		}
	}
}
