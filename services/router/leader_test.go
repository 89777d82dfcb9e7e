package router_test

import (
	"context"
	"flag"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/servicetest"
	"github.com/ringback/ringback/services/router"
)

// TestStandbyDispatchesNothingUntilItHoldsTheLease: while another replica
// holds the dispatcher lease, this one records answers but offers nothing;
// once the lease is free it takes over and offers.
func TestStandbyDispatchesNothingUntilItHoldsTheLease(t *testing.T) {
	var other eventstore.Lease
	env := startWith(t, []string{"--router.lease-ttl", "600ms"}, func(env *servicetest.Env) {
		var err error
		other, err = env.Store.(eventstore.Leases).AcquireLease(t.Context(), "router-dispatcher", "another-replica", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
	})
	ready(env, "a1")
	due(env, "c1", "i1")
	time.Sleep(500 * time.Millisecond)
	if o := offers(env, "i1"); len(o) != 0 {
		t.Fatalf("a standby offered: %v", o)
	}
	if err := env.Store.(eventstore.Leases).ReleaseLease(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	if o := nthOffer(env, "i1", 1); o.AgentId != "a1" {
		t.Fatalf("offer after takeover: %v", o)
	}
	if v := testutil.ToFloat64(gauge(t, env.Registry, "ringback_router_dispatcher_leader")); v != 1 {
		t.Fatalf("leader gauge %v, want 1", v)
	}
}

// TestTwoRoutersOneDispatcher runs two router replicas on one store and
// bus: only the lease holder offers; when it stops, the other takes over
// and offers what is still waiting. No agent ever holds two offers.
func TestTwoRoutersOneDispatcher(t *testing.T) {
	env, stopFirst := startStoppable(t, []string{"--router.lease-ttl", "600ms"})
	second, stopSecond := startReplica(t, env, "--router.lease-ttl", "600ms")
	ready(env, "a1")
	due(env, "c1", "i1")
	o1 := nthOffer(env, "i1", 1)
	accept(env, o1)
	waitUntil(env, "accept recorded", func() bool {
		evs := env.Events(interaction("i1"))
		return len(evs) > 0 && types(evs)[len(evs)-1] == "OfferAccepted"
	})
	first := testutil.ToFloat64(gauge(t, env.Registry, "ringback_router_dispatcher_leader"))
	if got := first + testutil.ToFloat64(gauge(t, second, "ringback_router_dispatcher_leader")); got != 1 {
		t.Fatalf("%v replicas lead, want 1", got)
	}
	// The leader goes away (a rolling update): the other takes over.
	began := time.Now()
	standby := second
	if first == 1 {
		stopFirst()
	} else {
		stopSecond()
		standby = env.Registry
	}
	waitUntil(env, "the standby leads", func() bool {
		return testutil.ToFloat64(gauge(t, standby, "ringback_router_dispatcher_leader")) == 1
	})
	t.Logf("takeover after a clean stop of the leader: %v", time.Since(began))
	ready(env, "a2")
	due(env, "c2", "i2")
	if o := nthOffer(env, "i2", 1); o.AgentId != "a2" {
		t.Fatalf("offer after takeover: %v (a1 is busy with i1)", o)
	}
}

// startReplica runs one more router on env's store and bus, with its own
// HTTP mux and metrics, as another pod would. stop ends it cleanly.
func startReplica(t *testing.T, env *servicetest.Env, args ...string) (*prometheus.Registry, func()) {
	t.Helper()
	var cfg router.Config
	fs := flag.NewFlagSet("router", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	svc, err := router.New(cfg, router.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock,
		Log: env.Log.With("replica", 2), Metrics: reg, Mux: http.NewServeMux()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = svc.Run(ctx)
	}()
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return reg, stop
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	return collectorOf{reg, name}
}

// collectorOf exposes one metric family of a registry to testutil.
type collectorOf struct {
	reg  *prometheus.Registry
	name string
}

func (c collectorOf) Describe(chan<- *prometheus.Desc) {}

func (c collectorOf) Collect(ch chan<- prometheus.Metric) {
	mfs, _ := c.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != c.name {
			continue
		}
		for _, m := range mf.Metric {
			ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(c.name, "", nil, nil), prometheus.GaugeValue, m.GetGauge().GetValue())
		}
	}
}
