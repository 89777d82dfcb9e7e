package bus

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// lagCollector exports, per handler, the age of the oldest message the
// handler is working on (retries and backoff included). It is a consumer's
// lag in time: it grows while a handler is stuck on a message or behind a
// backlog that arrives old, and reads 0 when the handler is idle. Offsets
// (ringback_kafka_consumer_lag) say how many records wait; this says how
// late the ones being handled are, on every bus, in-process included.
type lagCollector struct {
	desc *prometheus.Desc
	now  func() time.Time

	mu       sync.Mutex
	inFlight map[string]map[uint64]time.Time // handler -> token -> sent at
	seen     map[string]bool                 // handlers that have handled something: reported even when idle
	next     uint64
}

func newLagCollector() *lagCollector {
	return &lagCollector{
		desc: prometheus.NewDesc("ringback_bus_consumer_lag_seconds",
			"Age (since the store accepted its event) of the oldest message this handler is handling now; 0 when idle.",
			[]string{"handler"}, nil),
		now:      time.Now,
		inFlight: map[string]map[uint64]time.Time{},
		seen:     map[string]bool{},
	}
}

// start records a message sent at at in flight for handler; the returned
// func takes it out.
func (c *lagCollector) start(handler string, at time.Time) (done func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	token := c.next
	if c.inFlight[handler] == nil {
		c.inFlight[handler] = map[uint64]time.Time{}
	}
	c.inFlight[handler][token] = at
	c.seen[handler] = true
	return func() {
		c.mu.Lock()
		delete(c.inFlight[handler], token)
		c.mu.Unlock()
	}
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for handler := range c.seen {
		lag := 0.0
		for _, at := range c.inFlight[handler] {
			lag = max(lag, now.Sub(at).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, lag, handler)
	}
}
