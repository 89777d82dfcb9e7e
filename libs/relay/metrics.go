package relay

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics say how far the bus is behind the store. Set Relay.Metrics to
// NewMetrics' result; a nil *Metrics records nothing.
//
// The lag is measured in time, not events: store positions are not event
// counts in every adapter (EventStoreDB's are byte offsets in its log).
type Metrics struct {
	published prometheus.Counter
	delay     prometheus.Histogram
	last      prometheus.Gauge

	now     func() time.Time
	mu      sync.Mutex
	pending []time.Time // stored time of the oldest event of each batch in flight, in order
	events  int         // events in flight over all batches
}

// NewMetrics registers the relay's metrics on reg, or finds them there when
// another relay of the process registered them first.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ringback_relay_published_events_total",
			Help: "Events the relay published and the bus acknowledged.",
		}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ringback_relay_publish_delay_seconds",
			Help: "Per event, from the store accepting it to the bus acknowledging it: what the outbox adds to every hop between services.",
			// 1ms..~65s: a few ms when healthy, seconds while the bus
			// is down or the relay catches up after a restart.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 17),
		}),
		last: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ringback_relay_last_published_event_timestamp_seconds",
			Help: "When the store accepted the newest event the bus acknowledged (Unix time); time() minus this is the age of the last published event.",
		}),
		now: time.Now,
	}
	lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ringback_relay_lag_seconds",
		Help: "Age of the oldest event the relay read from the store and the bus has not acknowledged yet; 0 when nothing is in flight. Grows while the bus is unreachable.",
	}, m.lag)
	unpublished := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ringback_relay_unpublished_events",
		Help: "Events the relay read from the store and the bus has not acknowledged yet (events stored but not read yet are not counted: see ringback_relay_lag_seconds and the last published timestamp).",
	}, m.inFlight)
	for _, c := range []prometheus.Collector{m.published, m.delay, m.last, lag, unpublished} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				// A second relay in one process (tests): its lag is not
				// exported, the first one's is.
				continue
			}
			return nil, fmt.Errorf("register relay metrics: %w", err)
		}
	}
	return m, nil
}

// sending records a batch of n events about to be published whose oldest
// event the store accepted at oldest.
func (m *Metrics) sending(oldest time.Time, n int) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.pending = append(m.pending, oldest)
	m.events += n
	m.mu.Unlock()
}

// delivered records the oldest batch in flight acknowledged by the bus;
// stored are its events' store times.
func (m *Metrics) delivered(stored []time.Time) {
	if m == nil {
		return
	}
	now := m.now()
	m.mu.Lock()
	if len(m.pending) > 0 {
		m.pending = m.pending[1:]
	}
	m.events = max(0, m.events-len(stored))
	m.mu.Unlock()
	for _, t := range stored {
		m.delay.Observe(now.Sub(t).Seconds())
	}
	m.published.Add(float64(len(stored)))
	if len(stored) > 0 {
		m.last.Set(float64(stored[len(stored)-1].UnixNano()) / 1e9)
	}
}

func (m *Metrics) lag() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.pending) == 0 {
		return 0
	}
	return m.now().Sub(m.pending[0]).Seconds()
}

func (m *Metrics) inFlight() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return float64(m.events)
}

// Published counts the events the bus acknowledged.
func (m *Metrics) Published() prometheus.Counter { return m.published }
