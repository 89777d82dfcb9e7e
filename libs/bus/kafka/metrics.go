package kafka

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the subscribers of one process. Labels are topics, partitions
// and consumer groups: all bounded by configuration, never by traffic (no
// stream or message ids).
type metrics struct {
	lag          *prometheus.GaugeVec     // topic, partition, group
	inFlight     *prometheus.GaugeVec     // topic, group
	handle       *prometheus.HistogramVec // topic, group, outcome
	commitErrors *prometheus.CounterVec   // group
}

// newMetrics registers the subscriber metrics on reg, or finds them there
// when another subscriber of the process registered them first (one
// subscriber per consumer group shares one registry). A nil reg gives
// metrics that are kept but not exported, so the code has no nil checks.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ringback_kafka_consumer_lag",
			Help: "Records of a partition not yet handled by this consumer group: the partition's high watermark minus the offset the group will commit next (which stays at the oldest record not acked). Reported by the member that owns the partition.",
		}, []string{"topic", "partition", "group"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ringback_kafka_consumer_in_flight",
			Help: "Records fetched and not yet acked, over the partitions this process owns (bounded by MaxInFlightPerPartition each).",
		}, []string{"topic", "group"}),
		handle: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ringback_kafka_handler_seconds",
			Help: "Time from handing a record to the handler to its ack or nack, per delivery (a nacked record counts once per attempt).",
			// 1ms..~16s: a handler appends to the store (an fsync, ~1ms)
			// and may retry with backoff for seconds before giving up.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"topic", "group", "outcome"}),
		commitErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringback_kafka_commit_errors_total",
			Help: "Offset commits that failed; the records since the last good commit are delivered again after a rebalance.",
		}, []string{"group"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.lag, err = register(reg, m.lag); err != nil {
		return nil, err
	}
	if m.inFlight, err = register(reg, m.inFlight); err != nil {
		return nil, err
	}
	if m.handle, err = register(reg, m.handle); err != nil {
		return nil, err
	}
	if m.commitErrors, err = register(reg, m.commitErrors); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered under
// the same descriptors.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("register kafka metrics: %w", err)
	}
	return c, nil
}

func partitionLabel(p int) string { return strconv.Itoa(p) }
