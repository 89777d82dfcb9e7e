package router_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/inbox"
	"github.com/ringback/ringback/libs/servicetest"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/router"
)

// Each way an offer ends moves its own series of
// ringback_router_offer_outcomes_total, once; the first offer of a callback
// due 30s ago observes 30s from due to offer.
func TestMetricsOfferOutcomesAndDueToOffer(t *testing.T) {
	env := start(t)
	ready(env, "a1")
	ready(env, "a2")
	env.Append("scheduler-callback-c1", uuid.NewString(), &callbackv1.CallbackDue{CallbackId: "c1",
		InteractionId: "i1", DueAt: timestamppb.New(env.Clock.Now().Add(-30 * time.Second)),
		Request: &callbackv1.CallbackRequest{Service: "support", PhoneNumber: "+14155550123", RequestedAt: timestamppb.New(servicetest.Start)}})
	first := nthOffer(env, "i1", 1)
	waitUntil(env, "due to offer observed", func() bool {
		h := histogram(t, env, "ringback_router_due_to_offer_seconds")
		return h.count == 1 && h.sum == 30
	})

	reject(env, first)
	waitUntil(env, "rejected", func() bool { return outcome(t, env, "rejected") == 1 })
	accept(env, nthOffer(env, "i1", 2))
	waitUntil(env, "accepted", func() bool { return outcome(t, env, "accepted") == 1 })
	if h := histogram(t, env, "ringback_router_due_to_offer_seconds"); h.count != 1 {
		t.Errorf("due to offer observed %d times, want once: the second offer is not the first", h.count)
	}

	due(env, "c2", "i2")
	nthOffer(env, "i2", 1)
	env.Append("intake-callback-c2", uuid.NewString(), &callbackv1.CallbackCancelled{CallbackId: "c2",
		At: timestamppb.New(env.Clock.Now()), Reason: "cancelled by the visitor"})
	servicetest.WaitEvent[*routingv1.InteractionClosed](env, interaction("i2"))
	waitUntil(env, "withdrawn", func() bool { return outcome(t, env, "withdrawn") == 1 })

	due(env, "c3", "i3")
	nthOffer(env, "i3", 1)
	waitUntil(env, "offer timer", func() bool { return env.Clock.Waiters() > 0 })
	env.Clock.Advance(16 * time.Second)
	servicetest.WaitEvent[*routingv1.OfferTimedOut](env, interaction("i3"))
	waitUntil(env, "timed out", func() bool { return outcome(t, env, "timed_out") == 1 })

	for _, o := range []string{"accepted", "rejected", "withdrawn", "timed_out"} {
		if n := outcome(t, env, o); n != 1 {
			t.Errorf("%s offers: %v, want 1", o, n)
		}
	}
}

// The router's consumers export the bus metrics: each CallbackDue it
// handled is one delivery delay observation of its scheduler handler, whose
// lag is back to 0 once idle; the relay counts what it published.
func TestMetricsRouterConsumer(t *testing.T) {
	env := start(t)
	due(env, "c1", "i1")
	due(env, "c2", "i2")
	handler := router.HandlerName + "@" + envelope.TopicOf("scheduler")
	waitUntil(env, "two deliveries observed", func() bool { return labelled(t, env, "ringback_bus_delivery_delay_seconds", handler) == 2 })
	waitUntil(env, "lag back to 0", func() bool { return labelled(t, env, "ringback_bus_consumer_lag_seconds", handler) == 0 })
	if n := labelled(t, env, "ringback_bus_handler_seconds", handler); n != 2 {
		t.Errorf("handler latency observed %v times, want 2", n)
	}
	// The relay counts an event once its publish returned, which may be
	// after the router handled it.
	waitUntil(env, "the relay counted both", func() bool { return metrics(t, env)["ringback_relay_published_events_total"] >= 2 })
}

// labelled is the value (a histogram's count) of name's series whose
// handler label is handler, summed over its other labels; -1 when none.
func labelled(t *testing.T, env *servicetest.Env, name, handler string) float64 {
	t.Helper()
	mfs, err := env.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total, found := 0.0, false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != "handler" || l.GetValue() != handler {
					continue
				}
				found = true
				switch {
				case m.GetHistogram() != nil:
					total += float64(m.GetHistogram().GetSampleCount())
				default:
					total += m.GetGauge().GetValue()
				}
			}
		}
	}
	if !found {
		return -1
	}
	return total
}

func outcome(t *testing.T, env *servicetest.Env, o string) float64 {
	t.Helper()
	mfs, err := env.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "ringback_router_offer_outcomes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == o {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no ringback_router_offer_outcomes_total{outcome=%q}", o)
	return 0
}

type hist struct {
	count uint64
	sum   float64
}

func histogram(t *testing.T, env *servicetest.Env, name string) hist {
	t.Helper()
	mfs, err := env.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			h := mf.GetMetric()[0].GetHistogram()
			return hist{h.GetSampleCount(), h.GetSampleSum()}
		}
	}
	t.Fatalf("no %s", name)
	return hist{}
}

// MetricsRegisterer passes the harness's registry through telling, so the
// router's consumers export their bus metrics where the tests read them.
func (s telling) MetricsRegisterer() prometheus.Registerer {
	if m, ok := s.Subscriber.(inbox.MetricsRegisterer); ok {
		return m.MetricsRegisterer()
	}
	return nil
}
