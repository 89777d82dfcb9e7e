//go:build opus

package sip_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"
)

// pionPairs is the browser-legs bench's baseline: n pairs of pion peers,
// as the benchmark's browsers are, talking straight to each other with the
// same tone, in this process. A pair is the WebRTC stack of one end of a
// browser leg (the simulated browser) and of the other (the browsers'
// phones); what a browser leg costs beyond it is the gateway's: its SIP
// leg to the browsers' phones and its transcoding.
func pionPairs(ctx context.Context, n int, tone [][]byte) (res pairsResult, err error) {
	var pcs []*webrtc.PeerConnection
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		close(stop)
		for _, pc := range pcs {
			_ = pc.Close()
		}
		wg.Wait()
	}()
	meter := &seqMeter{}
	var ids sync.Mutex
	next := uint32(0)
	peer := func() (*webrtc.PeerConnection, *mic, error) {
		pc, err := browserAPI.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return nil, nil, err
		}
		pcs = append(pcs, pc)
		m, err := newMic()
		if err != nil {
			return nil, nil, err
		}
		if _, err := pc.AddTrack(m.TrackLocalStaticRTP); err != nil {
			return nil, nil, err
		}
		ids.Lock()
		next++
		id := next
		ids.Unlock()
		pb := &pionBrowser{onPacket: func(seq uint16, _ uint32, at time.Time) { meter.arrived(id, seq, at) }}
		pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pb.listen(t)
			}()
		})
		return pc, m, nil
	}
	for range n {
		a, ma, err := peer()
		if err != nil {
			return res, err
		}
		b, mb, err := peer()
		if err != nil {
			return res, err
		}
		if err := connectPair(ctx, a, b); err != nil {
			return res, err
		}
		for _, m := range []*mic{ma, mb} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				replayTone(m, tone, stop)
			}()
		}
	}
	start := time.Now().Add(bridgeWarmup)
	meter.window(start, bridgeWindow)
	time.Sleep(time.Until(start))
	cpu0 := cpuTime()
	time.Sleep(bridgeWindow)
	cpu1 := cpuTime()
	time.Sleep(500 * time.Millisecond)
	meter.close()
	res = pairsResult{n: n, loss: meter.loss(), jitterP99: meter.jitter.quantile(0.99), cores: -1}
	if cpu0 >= 0 && cpu1 >= 0 {
		res.cores = (cpu1 - cpu0).Seconds() / bridgeWindow.Seconds()
	}
	return res, nil
}

// replayTone sends tone on m, a frame every 20 ms, until stop (or a write
// fails: the connection closed).
func replayTone(m *mic, tone [][]byte, stop <-chan struct{}) {
	everyFrame(stop, func(i int) bool {
		return m.WriteSample(pionmedia.Sample{Data: tone[i%len(tone)], Duration: frameDur}) == nil
	})
}

// connectPair makes a the offerer and b the answerer, candidates gathered
// first (no trickle), and waits until both are connected.
func connectPair(ctx context.Context, a, b *webrtc.PeerConnection) error {
	connected := func(pc *webrtc.PeerConnection) <-chan struct{} {
		ch := make(chan struct{})
		var once sync.Once
		pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
			if s == webrtc.PeerConnectionStateConnected {
				once.Do(func() { close(ch) })
			}
		})
		return ch
	}
	ca, cb := connected(a), connected(b)
	// describe sets pc's local description, candidates gathered, and
	// gives it to other.
	describe := func(pc, other *webrtc.PeerConnection, sdp webrtc.SessionDescription, err error) error {
		if err != nil {
			return err
		}
		gathered := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(sdp); err != nil {
			return err
		}
		<-gathered
		return other.SetRemoteDescription(*pc.LocalDescription())
	}
	offer, err := a.CreateOffer(nil)
	if err := describe(a, b, offer, err); err != nil {
		return err
	}
	answer, err := b.CreateAnswer(nil)
	if err := describe(b, a, answer, err); err != nil {
		return err
	}
	for _, ch := range []<-chan struct{}{ca, cb} {
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("pion pair: %w", ctx.Err())
		}
	}
	return nil
}

type pairsResult struct {
	n         int
	loss      float64
	jitterP99 time.Duration
	cores     float64
}

func (r pairsResult) String() string {
	return fmt.Sprintf("N=%d pairs: loss %.2f%% jitter p99 %.1f ms, process CPU %.2f cores", r.n, 100*r.loss, ms(r.jitterP99), r.cores)
}
