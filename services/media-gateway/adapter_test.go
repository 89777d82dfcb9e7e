package mediagateway_test

import (
	"context"
	"flag"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
	"github.com/ringback/ringback/libs/siptest"
	mediagateway "github.com/ringback/ringback/services/media-gateway"
)

// TestTheServiceRunsItsOwnSIPAdapter: given no Dialer, the service builds
// the SIP adapter from its configuration, listens on Config.Listen, says
// it is not ready while the trunk does not answer its OPTIONS, and
// releases the SIP port when it stops. The binary only names addresses.
func TestTheServiceRunsItsOwnSIPAdapter(t *testing.T) {
	env := servicetest.New(t)
	silent, err := net.ListenPacket("udp4", "127.0.0.1:0") // a trunk that never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	listen := siptest.FreeAddr(t)
	cfg := defaults(t)
	cfg.Listen, cfg.Trunk, cfg.TrunkKeepAlive = listen, silent.LocalAddr().String(), 100*time.Millisecond
	svc, err := mediagateway.New(cfg, mediagateway.Deps{Deps: service.Deps{Store: env.Store,
		Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.ListenPacket("udp4", listen); err == nil {
		t.Fatalf("nothing listens on %s: the service built no SIP adapter", listen)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := svc.Ready()
		if err != nil && strings.Contains(err.Error(), "trunk") {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("Ready() = %v, want the silent trunk named", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the service did not stop")
	}
	c, err := net.ListenPacket("udp4", listen)
	if err != nil {
		t.Fatalf("the SIP port is still held after the service stopped: %v", err)
	}
	c.Close()
}

// TestAFailedStartReleasesTheSIPPort: a service that fails to build after
// its adapter bound the port leaves the port free.
func TestAFailedStartReleasesTheSIPPort(t *testing.T) {
	env := servicetest.New(t)
	listen := siptest.FreeAddr(t)
	cfg := defaults(t)
	cfg.Listen, cfg.Trunk = listen, "127.0.0.1:9"
	deps := mediagateway.Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock,
		Log: env.Log, Metrics: env.Registry}}
	svc, err := mediagateway.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	_ = svc
	// The same metrics again: registering them fails, after the adapter bound.
	cfg.Listen = siptest.FreeAddr(t)
	if _, err := mediagateway.New(cfg, deps); err == nil {
		t.Fatal("a second gateway registered the same metrics")
	}
	c, err := net.ListenPacket("udp4", cfg.Listen)
	if err != nil {
		t.Fatalf("a failed start kept the SIP port: %v", err)
	}
	c.Close()
}

// defaults is the configuration of the flags' defaults, without the
// browsers' phones.
func defaults(t *testing.T) mediagateway.Config {
	t.Helper()
	var c mediagateway.Config
	fs := flag.NewFlagSet("media-gateway", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--media.webrtc-off"}); err != nil {
		t.Fatal(err)
	}
	return c
}
