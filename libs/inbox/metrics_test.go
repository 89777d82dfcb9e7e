package inbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/inbox"
)

// A consumer's lag is the age of the message it is stuck on, from the
// event's store time carried in the envelope; idle, it is 0. The delivery
// delay of each message is observed once.
func TestConsumerLagAndDeliveryDelay(t *testing.T) {
	st, _, consume := world(t)
	reg := prometheus.NewRegistry()
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	consume(func(ctx context.Context, e envelope.Envelope) error {
		entered <- struct{}{}
		<-release
		return nil
	}, inbox.Config{Name: "lagging", Topics: []string{envelope.TopicOf("intake")}, Metrics: reg})

	appendEvent(t, context.Background(), st)
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("not consumed")
	}
	handler := "lagging@" + envelope.TopicOf("intake")
	first := gaugeOf(t, reg, "ringback_bus_consumer_lag_seconds", handler)
	time.Sleep(50 * time.Millisecond)
	if second := gaugeOf(t, reg, "ringback_bus_consumer_lag_seconds", handler); second < first+0.04 {
		t.Errorf("lag of a stuck handler went from %v to %v, want it to grow by the 50ms waited", first, second)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for gaugeOf(t, reg, "ringback_bus_consumer_lag_seconds", handler) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("lag not back to 0 once the handler finished")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := family(t, reg, "ringback_bus_delivery_delay_seconds", handler).GetHistogram().GetSampleCount(); n != 1 {
		t.Errorf("delivery delay observed %d times, want 1", n)
	}
}

func gaugeOf(t *testing.T, reg *prometheus.Registry, name, handler string) float64 {
	t.Helper()
	return family(t, reg, name, handler).GetGauge().GetValue()
}

func family(t *testing.T, reg *prometheus.Registry, name, handler string) *dto.Metric {
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
				if l.GetName() == "handler" && l.GetValue() == handler {
					return m
				}
			}
		}
	}
	t.Fatalf("no %s{handler=%q}", name, handler)
	return nil
}
