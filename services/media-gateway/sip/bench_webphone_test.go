//go:build opus

package sip_test

// The browser as the agent's phone under load (issue 15):
//
//	go test -run '^$' -bench BrowserLegs -benchtime 1x -cpu 2 ./sip/
//
// "Concurrent browser-audio legs through the gateway (WebRTC <-> PCMU) on 2
// cores with loss < 1 % and jitter p99 < 10 ms, beside the same number of
// SIP legs in the same run (target: at least half as many as SIP legs)."
//
// Each step runs N calls whose agent is a browser (a pion peer sending a
// 20 ms Opus frame every 20 ms over DTLS-SRTP, to the browsers' phones and
// through the gateway's bridge, transcoded to the contact's PCMU) and N
// calls whose agent is a SIP phone (PCMU both legs, as BridgedCalls), all
// to one trunk, in one gateway. SIP calls are timed by the send time in
// their payload; the browsers' by sequence number and arrival, at the
// contact (browser to contact) and in the browser (contact to browser).
// BROWSER_STEPS=10,20 picks the steps (default 25,50,100,150).

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pionmedia "github.com/pion/webrtc/v4/pkg/media"
	"gopkg.in/hraban/opus.v2"

	"github.com/ringback/ringback/services/media-gateway/sip"
	"github.com/ringback/ringback/services/media-gateway/webphone"
)

var browserSteps = func() []int {
	steps := []int{25, 50, 100, 150}
	if v := os.Getenv("BROWSER_STEPS"); v != "" {
		steps = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				panic("BROWSER_STEPS: " + v)
			}
			steps = append(steps, n)
		}
	}
	return steps
}()

// toneLoop is one second of a 440 Hz tone in 20 ms Opus frames, encoded
// once: the browsers replay it (a browser's encoder runs on its own
// machine, not on the gateway's cores).
func toneLoop(b *testing.B) [][]byte {
	enc, err := opus.NewEncoder(48000, 1, opus.AppVoIP)
	if err != nil {
		b.Fatal(err)
	}
	var frames [][]byte
	pcm := make([]int16, 960)
	for i := range 50 {
		for k := range pcm {
			pcm[k] = int16(8000 * math.Sin(2*math.Pi*440*float64(i*960+k)/48000))
		}
		out := make([]byte, 1500)
		n, err := enc.Encode(pcm, out)
		if err != nil {
			b.Fatal(err)
		}
		frames = append(frames, out[:n])
	}
	return frames
}

func BenchmarkBrowserLegs(b *testing.B) {
	checkGoroutines(b)
	load0 := loadAvg()
	m := &rtpMeter{}
	toContact, toBrowser := &seqMeter{}, &seqMeter{}
	agent, contact := startBenchUA(b, m), startBenchUA(b, m)
	if contact.media == nil {
		b.Skip("BRIDGE_UA=diago: the contact cannot time the browsers' transcoded frames")
	}
	contact.media.seq.Store(toContact)
	phones := startPhones(b)
	g, stop := startBenchGatewayWith(b, contact.Addr, func(c *sip.Config) { c.WebPhones = phones.Addr() })
	tone := toneLoop(b)

	var sipCalls []*sip.Call
	var browsers []*benchBrowser
	var results []string
	best, bestSIP := 0, 0
	for _, n := range browserSteps {
		more, err := dialBridged(g, "sip:agent1@"+agent.Addr, len(sipCalls), n-len(sipCalls))
		sipCalls = append(sipCalls, more...)
		if err != nil {
			b.Errorf("ramp to %d SIP calls: %v", n, err)
			break
		}
		bmore, err := dialBrowsers(g, phones, tone, toBrowser, len(browsers), n-len(browsers))
		browsers = append(browsers, bmore...)
		if err != nil {
			b.Errorf("ramp to %d browser calls: %v", n, err)
			break
		}
		start := time.Now().Add(bridgeWarmup)
		toContact.window(start, bridgeWindow)
		toBrowser.window(start, bridgeWindow)
		r := measure(m, n, "browsers")
		toContact.close()
		toBrowser.close()
		// The contact's frames to the browsers were counted as sent by
		// the SIP calls' meter too (one trunk UA): what the browsers'
		// streams spanned is taken off (to within a frame per stream at
		// the window's edges).
		r.sent = max(0, r.sent-toBrowser.expectedFrames())
		wl := max(toContact.loss(), toBrowser.loss())
		wj := max(toContact.jitter.quantile(0.99), toBrowser.jitter.quantile(0.99))
		within := wl <= maxLoss && wj <= maxJitter && toContact.frames() > 0 && toBrowser.frames() > 0
		fmt.Printf("  browser legs: N=%d WebRTC: loss %.2f%% to the contact, %.2f%% to the browser, jitter p99 %.1f / %.1f ms "+
			"(%d + %d frames); beside %d SIP calls: %v\n", n, 100*toContact.loss(), 100*toBrowser.loss(),
			ms(toContact.jitter.quantile(0.99)), ms(toBrowser.jitter.quantile(0.99)), toContact.frames(), toBrowser.frames(), n, r)
		results = append(results, fmt.Sprintf("N=%d WebRTC loss %.2f%% jitter p99 %.1f ms, SIP loss %.2f%% jitter p99 %.1f ms",
			n, 100*wl, ms(wj), 100*r.loss(), ms(r.jitterP99)))
		b.ReportMetric(100*wl, "webrtc-loss%@"+strconv.Itoa(n))
		b.ReportMetric(ms(wj), "webrtc-jitter-p99-ms@"+strconv.Itoa(n))
		if !within || !r.within() {
			break
		}
		best, bestSIP = n, n
	}
	var wg sync.WaitGroup
	for _, c := range sipCalls {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			_ = c.Hangup(ctx)
		})
	}
	for _, br := range browsers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			_ = br.call.Hangup(ctx)
			br.close()
		})
	}
	wg.Wait()
	stop()
	agent.stop()
	contact.stop()
	b.ReportMetric(float64(best), "max-webrtc-legs")
	fmt.Printf("media: browser legs (WebRTC Opus <-> PCMU) beside as many SIP calls: %s; max within 1%%/10 ms: %d WebRTC beside %d SIP "+
		"(target: at least half as many WebRTC as SIP)\n", strings.Join(results, "; "), best, bestSIP)
	fmt.Printf("  browsers are pion peers (DTLS-SRTP, host candidates on loopback, a pre-encoded Opus tone) in the benchmark's process, "+
		"competing for the same %d CPUs (GOMAXPROCS %d, load avg %s -> %s); %s per step\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), load0, loadAvg(), bridgeWindow)
}

// benchBrowser is one browser call of the benchmark.
type benchBrowser struct {
	call *sip.Call
	*pionBrowser
}

var browserIDs atomic.Uint32

// dialBrowsers places n calls whose agent is a browser, bridgeDialers at a
// time, numbering them from first.
func dialBrowsers(g *sip.Gateway, phones *webphone.Phones, tone [][]byte, meter *seqMeter, first, n int) ([]*benchBrowser, error) {
	var mu sync.Mutex
	var out []*benchBrowser
	var errs []error
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(bridgeDialers, n) {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				br, err := dialBrowser(g, phones, tone, meter, fmt.Sprintf("browser-%d", first+int(i)))
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					out = append(out, br)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return out, fmt.Errorf("%d of %d browser calls failed, first: %w", len(errs), n, errs[0])
	}
	return out, nil
}

// dialBrowser places one call to a browser and answers it there; the
// browser replays tone and times what it receives in meter.
func dialBrowser(g *sip.Gateway, phones *webphone.Phones, tone [][]byte, meter *seqMeter, id string) (*benchBrowser, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	agent := "agent-" + id
	type dialed struct {
		call *sip.Call
		err  error
	}
	res := make(chan dialed, 1)
	go func() {
		call, err := g.Dial(ctx, id, sip.WebPhonePrefix+agent, number, nil)
		res <- dialed{call, err}
	}()
	sid := browserIDs.Add(1)
	replay := func(t *mic, stop <-chan struct{}) {
		tick := time.NewTicker(frameDur)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if err := t.WriteSample(pionmedia.Sample{Data: tone[i%len(tone)], Duration: frameDur}); err != nil {
				return
			}
		}
	}
	pb, err := answerInBrowserWith(ctx, phones, agent, replay, nil, func(seq uint16, _ uint32, at time.Time) { meter.arrived(sid, seq, at) })
	if err != nil {
		return nil, err
	}
	d := <-res
	if d.err != nil {
		pb.close()
		return nil, d.err
	}
	return &benchBrowser{call: d.call, pionBrowser: pb}, nil
}

// startBenchGatewayWith is startBenchGateway with mod applied to its
// configuration.
func startBenchGatewayWith(b *testing.B, trunk string, mod func(*sip.Config)) (*sip.Gateway, func()) {
	b.Helper()
	cfg := sip.Config{Listen: "127.0.0.1:0", Trunk: trunk, CallerID: "ringback", AgentRingTimeout: waitLong, ContactRingTimeout: waitLong}
	mod(&cfg)
	g, stop, logs := runGateway(b, cfg, slog.LevelWarn)
	b.Cleanup(func() {
		stop()
		if b.Failed() {
			b.Logf("gateway log (warnings):\n%s", logs.String())
		}
	})
	return g, stop
}
