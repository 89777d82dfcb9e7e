//go:build opus

package sip_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/diago/audio"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"
	"gopkg.in/hraban/opus.v2"

	"github.com/ringback/ringback/services/media-gateway/rtplink"
	"github.com/ringback/ringback/services/media-gateway/sip"
	"github.com/ringback/ringback/services/media-gateway/webphone"
)

// pionBrowser is an agent's browser as the gateway sees it: a pion peer
// connection that sends a tone in Opus (20 ms, 48 kHz) and hands what it
// receives, decoded, to heard.
type pionBrowser struct {
	pc    *webrtc.PeerConnection
	heard func(pcm []int16)
	// onPacket sees every RTP packet received (bench: loss and jitter).
	onPacket func(seq uint16, ts uint32, at time.Time)
	stop     chan struct{}
	wg       sync.WaitGroup
	mic      *mic
}

var browserAPI = func() *webrtc.API {
	var me webrtc.MediaEngine
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		panic(err)
	}
	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled) // its candidates are loopback addresses
	// The gateway's RTCP (reports both ways) and nothing more: these
	// browsers share the gateway's process, where a real browser's own
	// bookkeeping would not run, let alone be collected by its GC.
	var ir interceptor.Registry
	if err := browserInterceptors(&ir); err != nil {
		panic(err)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(&me), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(&ir))
}()

// answerInBrowser waits for a call to ring the agent's browser, then
// answers it from a new pion peer sending a tone of hz (0: silence).
func answerInBrowser(ctx context.Context, phones *webphone.Phones, agent string, hz float64,
	heard func([]int16), onPacket func(uint16, uint32, time.Time)) (*pionBrowser, error) {
	return answerInBrowserWith(ctx, phones, agent, func(t *mic, stop <-chan struct{}) {
		speak(t, hz, stop)
	}, heard, onPacket)
}

// answerInBrowserWith is answerInBrowser with what the browser sends
// written by send, until stop is closed.
func answerInBrowserWith(ctx context.Context, phones *webphone.Phones, agent string,
	send func(t *mic, stop <-chan struct{}),
	heard func([]int16), onPacket func(uint16, uint32, time.Time)) (*pionBrowser, error) {
	call, err := ringingOn(ctx, phones, agent)
	if err != nil {
		return nil, err
	}
	return offerFromBrowser(ctx, phones, agent, call, send, heard, onPacket)
}

// ringingOn waits for a call to ring the agent's browser, and names it.
func ringingOn(ctx context.Context, phones *webphone.Phones, agent string) (string, error) {
	for {
		if ids := phones.Ringing(agent); len(ids) > 0 {
			return ids[0], nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no call rang %s's browser: %w", agent, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// offerFromBrowser is a pion browser's offer for call, ringing or up.
func offerFromBrowser(ctx context.Context, phones *webphone.Phones, agent, call string,
	send func(t *mic, stop <-chan struct{}),
	heard func([]int16), onPacket func(uint16, uint32, time.Time)) (*pionBrowser, error) {
	pc, err := browserAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	b := &pionBrowser{pc: pc, heard: heard, onPacket: onPacket, stop: make(chan struct{})}
	track, err := newMic()
	if err != nil {
		return nil, err
	}
	if _, err := pc.AddTrack(track.TrackLocalStaticRTP); err != nil {
		return nil, err
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.listen(t)
		}()
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, err
	}
	<-gathered
	answer, err := phones.Offer(ctx, agent, call, pc.LocalDescription().SDP)
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("offer: %w", err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		_ = pc.Close()
		return nil, err
	}
	track.bandwidth = opusBandwidth(answer)
	b.mic = track
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		send(track, b.stop)
	}()
	return b, nil
}

// mic is a browser's microphone track: one RTP packet, reused, per frame
// written. pion's sample track packetizes each frame into new packets, and
// these browsers share the gateway's process and its GC (issue 15's bench).
type mic struct {
	*webrtc.TrackLocalStaticRTP
	pkt rtp.Packet
	// bandwidth is the most the answer's maxplaybackrate lets the encoder
	// use, as a browser's does (RFC 7587 6.1).
	bandwidth opus.Bandwidth
}

// opusBandwidth is the Opus bandwidth an answer's maxplaybackrate allows
// (fullband when it names none).
func opusBandwidth(sdp string) opus.Bandwidth {
	pt := ""
	for _, line := range strings.Split(sdp, "\r\n") {
		if v, ok := strings.CutPrefix(line, "a=rtpmap:"); ok && strings.Contains(strings.ToLower(v), " opus/48000") {
			pt, _, _ = strings.Cut(v, " ")
		}
		v, ok := strings.CutPrefix(line, "a=fmtp:"+pt+" ")
		if pt == "" || !ok {
			continue
		}
		for _, param := range strings.Split(v, ";") {
			if r, ok := strings.CutPrefix(strings.TrimSpace(param), "maxplaybackrate="); ok {
				switch n, _ := strconv.Atoi(r); {
				case n <= 0:
				case n <= 8000:
					return opus.Narrowband
				case n <= 12000:
					return opus.Mediumband
				case n <= 16000:
					return opus.Wideband
				case n <= 24000:
					return opus.SuperWideband
				}
			}
		}
	}
	return opus.Fullband
}

func newMic() (*mic, error) {
	t, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
		"mic", "browser")
	if err != nil {
		return nil, err
	}
	m := &mic{TrackLocalStaticRTP: t}
	m.pkt.Version = 2 // SSRC and payload type are the track's binding's
	m.pkt.SequenceNumber = uint16(rand.Uint32())
	m.pkt.Timestamp = rand.Uint32()
	return m, nil
}

// WriteSample sends one Opus frame as one RTP packet.
func (m *mic) WriteSample(s pionmedia.Sample) error {
	m.pkt.Payload = s.Data
	err := m.WriteRTP(&m.pkt)
	m.pkt.SequenceNumber++
	m.pkt.Timestamp += uint32(s.Duration.Seconds() * 48000)
	return err
}

// speak sends a 20 ms Opus frame of the tone every 20 ms until stop.
func speak(track *mic, hz float64, stop <-chan struct{}) {
	enc, err := opus.NewEncoder(48000, 1, opus.AppVoIP)
	if err != nil || enc.SetMaxBandwidth(track.bandwidth) != nil {
		return
	}
	pcm := make([]int16, 960)
	out := make([]byte, 1500)
	everyFrame(stop, func(i int) bool {
		for k := range pcm {
			pcm[k] = int16(8000 * math.Sin(2*math.Pi*hz*float64(i*960+k)/48000))
		}
		n, err := enc.Encode(pcm, out)
		if err != nil {
			return true
		}
		return track.WriteSample(pionmedia.Sample{Data: out[:n], Duration: frameDur}) == nil
	})
}

// everyFrame calls send with 0, 1, 2 … every 20 ms until stop, or until
// send says to stop (a write failed: the connection closed).
func everyFrame(stop <-chan struct{}, send func(i int) bool) {
	tick := time.NewTicker(frameDur)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if !send(i) {
			return
		}
	}
}

func (b *pionBrowser) listen(t *webrtc.TrackRemote) {
	dec, err := opus.NewDecoder(48000, 1)
	if err != nil {
		return
	}
	pcm := make([]int16, 5760)
	// One buffer and one packet for the whole call, as a browser's own
	// receiver keeps: ReadRTP's new 1,500 bytes per packet were 40 % of
	// what the load bench allocated, in the gateway's process, where its
	// GC then stalled the gateway (issue 15's jitter).
	buf := make([]byte, 1500)
	var p rtp.Packet
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if p.Unmarshal(buf[:n]) != nil {
			continue
		}
		if b.onPacket != nil {
			b.onPacket(p.SequenceNumber, p.Timestamp, time.Now())
		}
		if b.heard == nil {
			continue
		}
		if k, err := dec.Decode(p.Payload, pcm); err == nil {
			b.heard(pcm[:k])
		}
	}
}

func (b *pionBrowser) close() {
	close(b.stop)
	_ = b.pc.Close()
	b.wg.Wait()
}

// startPhones runs the browsers' phones until the test ends.
func startPhones(tb testing.TB) *webphone.Phones {
	tb.Helper()
	return startPhonesWith(tb, webphone.Config{Loopback: true, Links: rtplink.NewRegistry()})
}

func startPhonesWith(tb testing.TB, cfg webphone.Config) *webphone.Phones {
	tb.Helper()
	phones, err := webphone.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- phones.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	})
	return phones
}

// dialedCall is what a dial in the background came to.
type dialedCall struct {
	call *sip.Call
	err  error
}

// dialBrowserPhone starts a Go contact playing contactHz, whose PCMU it
// hears is added to atContact under mu, and a gateway ringing agent1's
// browser at phones; it dials callID in the background.
func dialBrowserPhone(t *testing.T, phones *webphone.Phones, contactHz float64, callID string,
	mu *sync.Mutex, atContact *[]float64) (*goUA, <-chan dialedCall) {
	t.Helper()
	contact := startGoUA(t, contactMark)
	contact.setHooks(toneFrames(contactHz), func(pt uint8, p []byte) {
		if pt != 0 {
			return
		}
		mu.Lock()
		for _, b := range p {
			*atContact = append(*atContact, float64(pcmuSample(b)))
		}
		mu.Unlock()
	})
	g := startGateway(t, contact.Addr, func(c *sip.Config) { c.WebPhones, c.Links = phones.Addr(), phones.Links() })
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	t.Cleanup(cancel)
	res := make(chan dialedCall, 1)
	go func() {
		call, err := g.Dial(ctx, callID, sip.WebPhonePrefix+"agent1", number, nil)
		res <- dialedCall{call, err}
	}()
	return contact, res
}

// TestBrowserPhoneAudio: an agent whose phone is their browser (a pion
// peer) and a contact on PCMU. Each sends a tone of its own pitch; each must
// hear the other's through the gateway and the browsers' phones.
func TestBrowserPhoneAudio(t *testing.T) {
	t.Parallel()
	const agentHz, contactHz = 1000, 400
	phones := startPhones(t)
	var mu sync.Mutex
	var atAgent, atContact []float64
	contact, res := dialBrowserPhone(t, phones, contactHz, "browser-call", &mu, &atContact)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	browser, err := answerInBrowser(ctx, phones, "agent1", agentHz, func(pcm []int16) {
		mu.Lock()
		for _, v := range pcm {
			atAgent = append(atAgent, float64(v))
		}
		mu.Unlock()
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer browser.close()
	// The bridge is 8 kHz: the answer asks the browser for no more.
	if browser.mic.bandwidth != opus.Narrowband {
		t.Errorf("the answer lets the browser send Opus bandwidth %d, want narrowband (maxplaybackrate=8000)", browser.mic.bandwidth)
	}
	d := <-res
	if d.err != nil {
		t.Fatalf("Dial: %v", d.err)
	}

	heard := func(what string, samples *[]float64, rate, hz, other float64, n int) {
		t.Helper()
		waitHeard(t, what, &mu, samples, rate, hz, other, n)
	}
	heard("the browser's 1 kHz tone at the contact (Opus over WebRTC to PCMU)", &atContact, 8000, agentHz, 1700, 4000)
	heard("the contact's 400 Hz tone in the browser (PCMU to Opus over WebRTC)", &atAgent, 48000, contactHz, 1700, 24000)

	// Hold, mute and DTMF are the gateway's, as for a SIP phone: on hold
	// (a re-INVITE to the browsers' phones too) the contact no longer hears
	// the browser; retrieved, it does again; muted, not; DTMF reaches the
	// contact.
	tone := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if len(atContact) < 4000 {
			return false
		}
		s := atContact[len(atContact)-4000:]
		return goertzel(s, 8000, agentHz) > 20*goertzel(s, 8000, 1700)
	}
	// What reached the contact since the last change: muted, nothing does.
	since := func() {
		mu.Lock()
		atContact = atContact[:0]
		mu.Unlock()
	}
	silent := func(what string) {
		t.Helper()
		since()
		time.Sleep(time.Second)
		if tone() {
			t.Errorf("%s: the contact heard it", what)
		}
	}
	if err := d.call.Hold(ctx); err != nil {
		t.Fatalf("Hold: %v", err)
	}
	silent("the browser's tone on hold")
	if err := d.call.Retrieve(ctx); err != nil {
		t.Fatalf("Retrieve: %v", err)
	}
	since()
	waitUntil(t, "the browser's tone at the contact once retrieved", tone)
	if err := d.call.Mute(true); err != nil {
		t.Fatal(err)
	}
	silent("the browser's tone while muted")
	if err := d.call.Mute(false); err != nil {
		t.Fatal(err)
	}
	since()
	waitUntil(t, "the browser's tone at the contact unmuted", tone)
	if err := d.call.SendDTMF(ctx, "5#"); err != nil {
		t.Fatalf("SendDTMF: %v", err)
	}
	waitUntil(t, "the digits at the contact", func() bool { return contact.dtmf() == "5#" })

	// The agent hangs up in the browser: the call ends, the contact is
	// hung up.
	if err := phones.Hangup("agent1", "browser-call"); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	select {
	case <-d.call.Ended():
	case <-time.After(waitLong):
		t.Fatal("the call did not end when the browser hung up")
	}
	waitUntil(t, "contact hung up", func() bool { return contact.ended() == 1 })
}

// TestBrowserPhoneDeclined: the agent declines in the browser; the dial
// fails as an agent who did not take the call, and nothing rings on.
func TestBrowserPhoneDeclined(t *testing.T) {
	t.Parallel()
	phones := startPhones(t)
	contact := startGoUA(t, contactMark)
	g := startGateway(t, contact.Addr, func(c *sip.Config) { c.WebPhones, c.Links = phones.Addr(), phones.Links() })
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	res := make(chan error, 1)
	go func() {
		_, err := g.Dial(ctx, "declined-call", sip.WebPhonePrefix+"agent1", number, nil)
		res <- err
	}()
	waitUntil(t, "ringing in the browser", func() bool { return len(phones.Ringing("agent1")) == 1 })
	if err := phones.Hangup("agent2", "declined-call"); !errors.Is(err, webphone.ErrNoRing) {
		t.Errorf("another agent's hangup = %v, want ErrNoRing", err)
	}
	if err := phones.Hangup("agent1", "declined-call"); err != nil {
		t.Fatal(err)
	}
	var oe *sip.OutcomeError
	if err := <-res; !errors.As(err, &oe) || oe.Outcome != sip.OutcomeAgentUnavailable {
		t.Fatalf("Dial = %v, want agent unavailable", err)
	}
	if contact.answered() != 0 {
		t.Error("the contact was dialled though the agent declined")
	}
	if n := len(phones.Ringing("agent1")); n != 0 {
		t.Errorf("%d calls still ringing", n)
	}
	// A gateway without browsers' phones says so.
	g2 := startGateway(t, contact.Addr, nil)
	if _, err := g2.Dial(ctx, "no-phones", sip.WebPhonePrefix+"agent1", number, nil); !errors.As(err, &oe) || oe.Reason != sip.ReasonNoWebPhones {
		t.Errorf("Dial without browsers' phones = %v, want %q", err, sip.ReasonNoWebPhones)
	}
}

// toneFrames is a PCMU tone of hz, 20 ms a frame.
func toneFrames(hz float64) func(i int) []byte {
	return func(i int) []byte {
		pcm := make([]byte, 320)
		for k := range 160 {
			v := int16(8000 * math.Sin(2*math.Pi*hz*float64(i*160+k)/8000))
			pcm[2*k], pcm[2*k+1] = byte(uint16(v)), byte(uint16(v)>>8)
		}
		out := make([]byte, 160)
		_, _ = audio.EncodeUlawTo(out, pcm)
		return out
	}
}

// TestConsultABrowserThenTransfer: an agent consults a colleague whose phone
// is their browser too (issue 15). The same call rings the colleague's
// browser beside the agent's; once it answers they talk, the contact on
// hold; the transfer leaves the contact and the colleague talking, each
// hearing the other's pitch.
func TestConsultABrowserThenTransfer(t *testing.T) {
	t.Parallel()
	const agentHz, colleagueHz, contactHz = 1000, 600, 400
	phones := startPhones(t)
	var mu sync.Mutex
	var atAgent, atColleague, atContact []float64
	_, res := dialBrowserPhone(t, phones, contactHz, "browser-consult", &mu, &atContact)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	collect := func(into *[]float64) func([]int16) {
		return func(pcm []int16) {
			mu.Lock()
			for _, v := range pcm {
				*into = append(*into, float64(v))
			}
			mu.Unlock()
		}
	}
	agent, err := answerInBrowser(ctx, phones, "agent1", agentHz, collect(&atAgent), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer agent.close()
	d := <-res
	if d.err != nil {
		t.Fatalf("Dial: %v", d.err)
	}
	heard := func(what string, samples *[]float64, rate, hz, other float64, n int) {
		t.Helper()
		waitHeard(t, what, &mu, samples, rate, hz, other, n)
	}
	heard("the agent's tone at the contact", &atContact, 8000, agentHz, 1700, 4000)

	consulted := make(chan error, 1)
	go func() { consulted <- d.call.Consult(ctx, sip.Party{AgentURI: sip.WebPhonePrefix + "agent2"}) }()
	colleague, err := answerInBrowser(ctx, phones, "agent2", colleagueHz, collect(&atColleague), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer colleague.close()
	if err := <-consulted; err != nil {
		t.Fatalf("Consult a colleague on their browser: %v", err)
	}
	heard("the colleague's tone in the agent's browser", &atAgent, 48000, colleagueHz, 1700, 24000)
	heard("the agent's tone in the colleague's browser", &atColleague, 48000, agentHz, 1700, 24000)

	if err := d.call.CompleteTransfer(ctx); err != nil {
		t.Fatalf("CompleteTransfer: %v", err)
	}
	heard("the colleague's tone at the contact", &atContact, 8000, colleagueHz, 1700, 4000)
	heard("the contact's tone in the colleague's browser", &atColleague, 48000, contactHz, 1700, 24000)
	if err := d.call.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
}

// waitHeard waits until the last n samples (at rate, guarded by mu) hold
// hz well above other: a tone is heard.
func waitHeard(t *testing.T, what string, mu *sync.Mutex, samples *[]float64, rate, hz, other float64, n int) {
	t.Helper()
	waitUntil(t, what, func() bool {
		mu.Lock()
		defer mu.Unlock()
		if len(*samples) < 2*n {
			return false
		}
		s := (*samples)[len(*samples)-n:]
		return goertzel(s, rate, hz) > 20*goertzel(s, rate, other)
	})
}
