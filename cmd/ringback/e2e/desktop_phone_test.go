package e2e

import (
	"context"
	bin "encoding/binary"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emiago/diago"
	"github.com/emiago/diago/audio"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"
)

// TestDesktopBrowserPhone (issue 15): the agent's phone is their browser.
// Headless Chromium's fake microphone plays a 1 kHz tone; the contact (a Go
// UA on PCMU) plays 400 Hz. The agent logs in with "This browser is my
// phone", accepts, calls: the page rings, the agent answers there, and each
// side hears the other's pitch (the contact by Goertzel on the PCMU it
// receives, the page by the spectrum of what its speaker plays). Mute in
// the page silences the agent at the contact; Hang up in the page ends the
// call.
func TestDesktopBrowserPhone(t *testing.T) {
	desktopNeedChromium(t)
	const agentHz, contactHz = 1000, 400
	contact := startToneUA(t, contactHz)
	_, a, url := desktopPlatform(t, []desktopAgent{{ID: "w1", Name: "Web One", Token: "w1-token"}},
		"--sip-trunk", contact.addr, "--media.trunk-keepalive", "0", "--media.webrtc-loopback")
	b := startPhoneBrowser(t, toneWAV(t, agentHz), true)
	w1 := b.tab(t, "w1")
	loginBrowserPhone(t, w1, url, "w1", "w1-token")
	w1.goReady(t)

	desktopCallback(t, a, "+14155550171", "Browser phone", "Grace Hopper", nil)
	w1.waitJS(t, "the preview", `!!document.querySelector(`+desktopJS(desktopPreview)+`)`)
	w1.pressNamed(t, desktopPreview, "Accept")
	w1.waitJS(t, "the interaction window", desktopStatusIs(desktopWindow, "Ready to Call"))
	w1.pressNamed(t, desktopWindow, "Call this contact")

	w1.waitJS(t, "the page rings", `window.ringbackPhone.state() === 'ringing'`)
	pageAxe(t, w1, "the phone ringing")
	if contact.calls() != 0 {
		t.Fatal("the contact was dialled before the agent answered")
	}
	w1.pressNamed(t, "#browser-phone", "Answer")
	if !w1.poll(`window.ringbackPhone.state() === 'connected' || window.ringbackPhone.error() !== ''`) ||
		desktopEval[string](t, w1, `window.ringbackPhone.error()`) != "" {
		t.Fatalf("answering in the page: %s", desktopEval[string](t, w1, `window.ringbackPhone.error()`))
	}
	w1.waitJS(t, "Connected", desktopStatusIs(desktopWindow, "Connected"))
	w1.waitJS(t, "the call's audio up in the page", `window.ringbackPhone.state() === 'connected'`)
	pageAxe(t, w1, "the phone on a call")

	// The browser's 1 kHz at the contact, through WebRTC, Opus and PCMU.
	waitFor(t, "the browser's 1 kHz tone at the contact", func() bool { return contact.hears(agentHz, 1700) })
	// The contact's 400 Hz in the page's speaker.
	w1.waitJS(t, "the contact's 400 Hz tone in the page", `Math.abs(window.ringbackPhone.pitch() - 400) < 20`)
	t.Logf("pitch in the page: %.0f Hz, level %.2f", desktopEval[float64](t, w1, `window.ringbackPhone.pitch()`),
		desktopEval[float64](t, w1, `window.ringbackPhone.level()`))

	// Mute in the page: the contact hears no tone any more; unmute: again.
	w1.pressNamed(t, "#browser-phone", "Mute microphone")
	waitFor(t, "silence at the contact while muted", func() bool { return !contact.hears(agentHz, 1700) })
	w1.pressNamed(t, "#browser-phone", "Unmute microphone")
	waitFor(t, "the tone at the contact again", func() bool { return contact.hears(agentHz, 1700) })

	// Microphone volume to 0: the contact hears no tone; back: again. The
	// speaker volume scales what the speaker meter shows.
	setRange := func(ref, value string) {
		desktopEval[chromedp.Void](t, w1, `(() => { const r = document.querySelector('#browser-phone [data-ref="`+ref+`"]');
			r.value = `+value+`; r.dispatchEvent(new Event('input')); })()`)
	}
	setRange("mic-volume", "0")
	waitFor(t, "no tone at the contact at microphone volume 0", func() bool { return !contact.hears(agentHz, 1700) })
	setRange("mic-volume", "100")
	waitFor(t, "the tone at the contact at microphone volume 100", func() bool { return contact.hears(agentHz, 1700) })
	setRange("speaker-volume", "0")
	w1.waitJS(t, "the speaker meter at 0 with the speaker at 0", `document.querySelector('#browser-phone [data-ref="speaker-level"]').value === 0`)
	setRange("speaker-volume", "80")
	w1.waitJS(t, "the speaker meter up again", `document.querySelector('#browser-phone [data-ref="speaker-level"]').value > 0.05`)
	if v := desktopEval[float64](t, w1, `document.querySelector('#browser-phone audio').volume`); v != 0.8 {
		t.Errorf("the call plays at volume %v, want 0.8", v)
	}

	// A reload mid-call does not hang up: the gateway holds the call, and
	// the page, back, takes its audio back by itself.
	w1.do(t, "reload the page mid-call", chromedp.Reload())
	w1.waitJS(t, "logged in again after the reload", `!document.querySelector('#me').hidden`)
	w1.waitJS(t, "the call's audio back in the page", `window.ringbackPhone.state() === 'connected'`)
	w1.waitJS(t, "Connected after the reload", desktopStatusIs(desktopWindow, "Connected"))
	waitFor(t, "the browser's 1 kHz tone at the contact after the reload", func() bool { return contact.hears(agentHz, 1700) })
	w1.waitJS(t, "the contact's 400 Hz tone in the page after the reload", `Math.abs(window.ringbackPhone.pitch() - 400) < 20`)
	if n := contact.ended(); n != 0 {
		t.Fatalf("the contact was hung up by the reload (%d)", n)
	}

	// Hang up in the page: the call ends for the contact.
	w1.pressNamed(t, "#browser-phone", "Hang up")
	w1.waitJS(t, "Ready to Call after the hang-up", desktopStatusIs(desktopWindow, "Ready to Call"))
	waitFor(t, "the contact hung up", func() bool { return contact.ended() == 1 })
	w1.noExceptions(t)
}

// loginBrowserPhone logs agent id in at url with "This browser is my
// phone", and waits for the phone panel with the microphone allowed.
func loginBrowserPhone(t *testing.T, tab *desktopTab, url, id, token string) {
	t.Helper()
	tab.do(t, "open the desktop", chromedp.Navigate(url))
	tab.waitJS(t, "the login form", `!document.querySelector('#login').hidden`)
	tab.fill(t, "#login-agent", id)
	tab.fill(t, "#login-token", token)
	tab.do(t, "tick This browser is my phone", chromedp.Click(chromedp.CSS("#login-browser-phone")))
	if v := desktopEval[string](t, tab, `document.querySelector('#login-phone').value`); v != "webrtc:" {
		t.Fatalf("the phone field reads %q once the browser is the phone, want webrtc:", v)
	}
	pageAxe(t, tab, "the login form, the browser as the phone")
	tab.pressNamed(t, "#login", "Log in")
	tab.waitJS(t, "logged in", `!document.querySelector('#me').hidden`)
	tab.waitJS(t, "the browser phone panel, microphone allowed", `!document.querySelector('#browser-phone').hidden &&
		window.ringbackPhone.error() === '' && window.ringbackPhone.micLevel() > 0.01`)
}

// TestDesktopBrowserPhoneMicrophoneRefused: a browser that refuses the
// microphone says so plainly, and cannot answer.
func TestDesktopBrowserPhoneMicrophoneRefused(t *testing.T) {
	desktopNeedChromium(t)
	_, _, url := desktopPlatform(t, []desktopAgent{{ID: "w2", Name: "Web Two", Token: "w2-token"}},
		"--sip-trunk", "127.0.0.1:9", "--media.trunk-keepalive", "0")
	b := startPhoneBrowser(t, toneWAV(t, 1000), false) // a microphone, its prompt dismissed: refused
	w2 := b.tab(t, "w2")
	w2.do(t, "open the desktop", chromedp.Navigate(url))
	w2.waitJS(t, "the login form", `!document.querySelector('#login').hidden`)
	w2.fill(t, "#login-agent", "w2")
	w2.fill(t, "#login-token", "w2-token")
	w2.do(t, "tick This browser is my phone", chromedp.Click(chromedp.CSS("#login-browser-phone")))
	w2.pressNamed(t, "#login", "Log in")
	w2.waitJS(t, "the refusal shown", `document.querySelector('#browser-phone [role=alert]')?.hidden === false`)
	msg := desktopEval[string](t, w2, `document.querySelector('#browser-phone [role=alert]').textContent`)
	t.Logf("the page says: %s", msg)
	if !strings.Contains(msg, "microphone was refused") || !strings.Contains(msg, "Allow the microphone") {
		t.Errorf("the refusal reads %q", msg)
	}
	pageAxe(t, w2, "the microphone refused")
	if !w2.button(t, "#browser-phone", "Answer").Disabled {
		t.Error("Answer enabled without a microphone")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(desktopWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, desktopWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startPhoneBrowser is startDesktopBrowser with a fake microphone playing
// wav, granted without asking when grant (else the prompt is dismissed, as
// an agent refusing it), and loopback ICE candidates (the gateway is on
// this host).
func startPhoneBrowser(t *testing.T, wav string, grant bool) *desktopBrowser {
	t.Helper()
	desktopNeedChromium(t)
	logPath := filepath.Join(t.TempDir(), "chromium.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(desktopChromium), chromedp.Headless, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("use-fake-device-for-media-stream", true), chromedp.Flag("use-fake-ui-for-media-stream", grant),
		chromedp.Flag("use-file-for-fake-audio-capture", wav), chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1100), chromedp.CombinedOutput(logFile))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		logFile.Close()
	})
	if err := chromedp.Do(ctx); err != nil {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("start %s: %v\n%s", desktopChromium, err, b)
	}
	return &desktopBrowser{ctx: ctx, log: logPath}
}

// toneWAV writes 10 s of a sine of hz, 48 kHz mono 16-bit (Chromium loops it).
func toneWAV(t *testing.T, hz float64) string {
	t.Helper()
	const rate, secs = 48000, 10
	pcm := make([]byte, 2*rate*secs)
	for i := range rate * secs {
		bin.LittleEndian.PutUint16(pcm[2*i:], uint16(int16(12000*math.Sin(2*math.Pi*hz*float64(i)/rate))))
	}
	h := make([]byte, 44)
	copy(h, "RIFF")
	bin.LittleEndian.PutUint32(h[4:], uint32(36+len(pcm)))
	copy(h[8:], "WAVEfmt ")
	bin.LittleEndian.PutUint32(h[16:], 16)
	bin.LittleEndian.PutUint16(h[20:], 1) // PCM
	bin.LittleEndian.PutUint16(h[22:], 1) // mono
	bin.LittleEndian.PutUint32(h[24:], rate)
	bin.LittleEndian.PutUint32(h[28:], rate*2)
	bin.LittleEndian.PutUint16(h[32:], 2)
	bin.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	bin.LittleEndian.PutUint32(h[40:], uint32(len(pcm)))
	path := filepath.Join(t.TempDir(), "tone.wav")
	if err := os.WriteFile(path, append(h, pcm...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// toneUA is the contact: a Go UA (diago) on loopback that answers with
// PCMU, sends a tone of its pitch and keeps the last second it heard.
type toneUA struct {
	addr string
	hz   float64

	mu     sync.Mutex
	heard  []float64
	nCalls int
	nEnded int
}

func startToneUA(t *testing.T, hz float64) *toneUA {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	quiet := slog.New(slog.DiscardHandler)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("tone-"+strconv.Itoa(port)), sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransactionLayerOptions(sipgosip.WithTransactionLayerLogger(quiet),
			sipgosip.WithTransactionLayerUnhandledResponseHandler(func(*sipgosip.Response) {})),
		sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(quiet)))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	u := &toneUA{addr: conn.LocalAddr().String(), hz: hz}
	dg := diago.NewDiago(ua, diago.WithServer(srv), diago.WithLogger(quiet),
		diago.WithTransport(diago.Transport{Transport: "udp", BindHost: "127.0.0.1", BindPort: port}))
	dg.HandleFunc(u.serve)
	srv.OnOptions(func(req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		_ = tx.Respond(sipgosip.NewResponseFromRequest(req, sipgosip.StatusOK, "OK", nil))
	})
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.ServeUDP(conn)
	}()
	t.Cleanup(func() {
		conn.Close()
		<-served
		ua.Close()
	})
	return u
}

func (u *toneUA) serve(d *diago.DialogServerSession) {
	u.mu.Lock()
	u.nCalls++
	u.mu.Unlock()
	_ = d.Trying()
	_ = d.Ringing()
	med, err := d.Answer(diago.AnswerOptions{Codecs: []media.Codec{media.CodecAudioUlaw, media.CodecTelephoneEvent8000}})
	if err != nil {
		return
	}
	ctx := d.Context()
	var wg sync.WaitGroup
	wg.Go(func() {
		w, err := med.AudioWriter()
		if err != nil {
			return
		}
		pcm, frame := make([]byte, 320), make([]byte, 160)
		for i := 0; ctx.Err() == nil; i++ {
			for k := range 160 {
				v := int16(8000 * math.Sin(2*math.Pi*u.hz*float64(i*160+k)/8000))
				bin.LittleEndian.PutUint16(pcm[2*k:], uint16(v))
			}
			_, _ = audio.EncodeUlawTo(frame, pcm)
			if _, err := w.Write(frame); err != nil && ctx.Err() == nil {
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	wg.Go(func() {
		r, err := med.AudioReader()
		if err != nil {
			return
		}
		buf := make([]byte, media.RTPBufSize)
		pcm := make([]byte, 2*media.RTPBufSize)
		for {
			n, err := r.Read(buf)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				continue
			}
			if med.RTPPacketReader.PacketHeader.PayloadType != 0 || n == 0 {
				continue
			}
			m, _ := audio.DecodeUlawTo(pcm, buf[:n])
			u.mu.Lock()
			for k := 0; k+1 < m; k += 2 {
				u.heard = append(u.heard, float64(int16(bin.LittleEndian.Uint16(pcm[k:]))))
			}
			if len(u.heard) > 16000 {
				u.heard = append(u.heard[:0], u.heard[len(u.heard)-8000:]...)
			}
			u.mu.Unlock()
		}
	})
	<-ctx.Done()
	_ = med.Close()
	wg.Wait()
	u.mu.Lock()
	u.nEnded++
	u.mu.Unlock()
}

// hears says whether the last half second holds hz well above other, and
// is not silence.
func (u *toneUA) hears(hz, other float64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.heard) < 4000 {
		return false
	}
	s := u.heard[len(u.heard)-4000:]
	var energy float64
	for _, x := range s {
		energy += x * x
	}
	p, q := goertzel(s, 8000, hz), goertzel(s, 8000, other)
	return energy/float64(len(s)) > 1e4 && p > 20*q
}

func (u *toneUA) calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.nCalls
}

func (u *toneUA) ended() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.nEnded
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
