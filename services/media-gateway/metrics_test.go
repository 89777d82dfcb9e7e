package mediagateway_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringback/ringback/libs/eventstore"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	mediagateway "github.com/ringback/ringback/services/media-gateway"
)

// A call the contact answers after ringing 300ms counts as connected with a
// setup time of at least that; a number the dial plan refuses counts under
// its outcome, with its own setup time.
func TestMetricsCallOutcomesAndSetupTime(t *testing.T) {
	env := newEnv(t)
	agent, trunk := startPhone(t), startSlowPhone(t, 300*time.Millisecond)
	gw := startGateway(t, env, "gw-a", trunk.Addr, testTTL, func(c *mediagateway.Config) { c.DialCountries = "GB" })
	waitReady(t, env, gw)
	env.Relay()

	env.AppendAs("agent-interaction-i1", eventstore.Cause{ID: "dial-1", Correlation: "cb1"}, dialRequest(1, agent))
	waitFor(t, 15*time.Second, "call connected", func() bool {
		_, ok := has[*mediav1.CallConnected](events(t, env, "media-call-k1"))
		return ok
	})
	waitFor(t, 5*time.Second, "connected counted", func() bool { return counter(t, gw.registry, "ringback_call_outcomes_total", "connected") == 1 })
	if n, sum := setupTime(t, gw.registry, "connected"); n != 1 || sum < 0.3 {
		t.Errorf("connected setup: %d observations summing %.3fs, want 1 of at least the 0.3s the contact rang", n, sum)
	}

	us := dialRequest(2, agent)
	us.PhoneNumber = "+14155550123"
	env.AppendAs("agent-interaction-i2", eventstore.Cause{ID: "dial-2", Correlation: "cb2"}, us)
	waitFor(t, 15*time.Second, "refused call counted", func() bool {
		return counter(t, gw.registry, "ringback_call_outcomes_total", "invalid number") == 1
	})
	if n, _ := setupTime(t, gw.registry, "invalid number"); n != 1 {
		t.Errorf("refused call setup observed %d times, want 1", n)
	}
	if n := counter(t, gw.registry, "ringback_call_outcomes_total", "connected"); n != 1 {
		t.Errorf("connected %v after a refused call, want still 1", n)
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func setupTime(t *testing.T, reg *prometheus.Registry, outcome string) (uint64, float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "ringback_call_setup_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
				}
			}
		}
	}
	return 0, 0
}
