package router

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/router/offer"
)

// outcomeMetrics count offers by how they ended and time callbacks from
// due to their first offer. They are observed on the events this replica
// appended, so with N replicas each end is counted once, by the replica
// that wrote it, and a redelivered command (no new events) counts nothing.
type outcomeMetrics struct {
	ended      *prometheus.CounterVec // outcome
	dueToOffer prometheus.Histogram
}

func newOutcomeMetrics(reg prometheus.Registerer) (*outcomeMetrics, error) {
	m := &outcomeMetrics{
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringback_router_offer_outcomes_total",
			Help: "Offers by how they ended: accepted, rejected, timed_out (the agent let it expire), withdrawn (the callback was cancelled, rescheduled or expired while offered)."},
			[]string{"outcome"}),
		dueToOffer: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ringback_router_due_to_offer_seconds",
			Help: "From a callback's due time (the time it was scheduled for, else when it was queued) to its interaction's first offer to an agent.",
			// 0.1s..~55min: immediate when agents are free, minutes on a busy Monday.
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 16)}),
	}
	for _, o := range []string{"accepted", "rejected", "timed_out", "withdrawn"} {
		m.ended.WithLabelValues(o) // exported at 0, so rates and alerts see the series from the start
	}
	for _, c := range []prometheus.Collector{m.ended, m.dueToOffer} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("router metrics: %w", err)
		}
	}
	return m, nil
}

// observe records what the events an interaction's command appended say;
// before is the interaction as the command was decided on.
func (m *outcomeMetrics) observe(before offer.State, events []proto.Message) {
	for _, e := range events {
		switch e := e.(type) {
		case *routingv1.OfferAccepted:
			m.ended.WithLabelValues("accepted").Inc()
		case *routingv1.OfferRejected:
			m.ended.WithLabelValues("rejected").Inc()
		case *routingv1.OfferTimedOut:
			m.ended.WithLabelValues("timed_out").Inc()
		case *routingv1.InteractionClosed:
			if before.Status == offer.Offered {
				m.ended.WithLabelValues("withdrawn").Inc()
			}
		case *routingv1.InteractionOffered:
			// The first offer of this interaction; later ones follow a
			// rejection or timeout, not the due time.
			if before.Attempts != 0 || e.OfferedAt == nil {
				continue
			}
			// The time this attempt was due; else the first due time.
			due := e.ScheduledFor
			if due == nil {
				due = e.QueuedAt
			}
			if due != nil {
				m.dueToOffer.Observe(max(0, e.OfferedAt.AsTime().Sub(due.AsTime())).Seconds())
			}
		}
	}
}
