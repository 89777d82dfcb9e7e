package mediagateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringback/ringback/libs/clock"
	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
	mediagateway "github.com/ringback/ringback/services/media-gateway"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

// TestBusFailingAtStartIsRetried: a gateway whose first subscription to
// the bus fails (the bus not answering yet) subscribes again and serves;
// it does not drain and exit, which would hang up its calls and, with
// every replica meeting the same bus, leave no gateway up.
func TestBusFailingAtStartIsRetried(t *testing.T) {
	env := newEnv(t)
	gw, err := sip.New(sip.Config{Listen: "127.0.0.1:0", Trunk: "127.0.0.1:5999", CallerID: "ringback"}, env.Log)
	if err != nil {
		t.Fatal(err)
	}
	flaky, subscribes := servicetest.FailingFirst(env.Subscribers())
	cfg := mediagateway.Config{Trunk: "127.0.0.1:5999", CallerID: "ringback", InstanceID: "gw-retry", LeaseTTL: 3 * time.Second,
		DrainGrace: 100 * time.Millisecond}
	svc, err := mediagateway.New(cfg, mediagateway.Deps{Deps: service.Deps{Store: env.Store, Subscribers: flaky, Clock: clock.Real{},
		Log: env.Log, Metrics: prometheus.NewRegistry()}, Dialer: sip.Port{Gateway: gw}})
	if err != nil {
		t.Fatal(err)
	}
	sipCtx, stopSIP := context.WithCancel(context.Background())
	defer stopSIP()
	go func() { _ = gw.Run(sipCtx) }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exited := make(chan error, 1)
	go func() { exited <- svc.Run(ctx) }()

	waitFor(t, 10*time.Second, "the gateway subscribed again", func() bool {
		return subscribes.Load() >= 2 && env.Bus.Groups(envelope.TopicOf("agent")) > 0
	})
	select {
	case err := <-exited:
		t.Fatalf("the gateway exited after its subscription failed: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("stop: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the gateway did not stop")
	}
}
