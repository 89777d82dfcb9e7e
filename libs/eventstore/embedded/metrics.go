package embedded

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are what the writer did: how many group commits (one write and
// one sync each), how long each took, and the appends they carried, by
// kind of stream and by whether the append could wait to share a sync.
// Syncs per callback are the embedded store's main cost (issue 13), and an
// operator sees here which service's writes pay for them.
type metrics struct {
	commits       prometheus.Counter
	commitSeconds prometheus.Histogram
	bytes         prometheus.Counter
	appends       *prometheus.CounterVec
	events        prometheus.Counter
	kinds         []string
}

// WithMetrics registers the store's metrics with reg. kinds are the stream
// name prefixes the appends are counted by (label kind, the prefix without
// its last "-"); a stream of no listed prefix counts as "other", so the
// label's values are bounded whatever the streams are named. A nil reg
// counts nothing (a command that opens the store for a moment).
func WithMetrics(reg prometheus.Registerer, kinds []string) Option {
	return func(s *Store) {
		if reg == nil {
			return
		}
		m := &metrics{
			commits: prometheus.NewCounter(prometheus.CounterOpts{Name: "ringback_eventstore_commits_total",
				Help: "Group commits of the embedded store: one write and one sync each, for every append waiting."}),
			commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ringback_eventstore_commit_seconds",
				Help:    "Time of one group commit's write and sync.",
				Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25}}),
			bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "ringback_eventstore_written_bytes_total",
				Help: "Bytes the embedded store wrote to its log."}),
			appends: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringback_eventstore_appends_total",
				Help: "Appends written, by kind of stream, and shared=true for those made to share a sync (eventstore.WithSharedSync)."},
				[]string{"kind", "shared"}),
			events: prometheus.NewCounter(prometheus.CounterOpts{Name: "ringback_eventstore_events_appended_total",
				Help: "Events written by the embedded store."}),
			kinds: kinds,
		}
		for _, c := range []prometheus.Collector{m.commits, m.commitSeconds, m.bytes, m.appends, m.events} {
			if err := reg.Register(c); err != nil {
				s.metricsErr = err
				return
			}
		}
		s.metrics = m
	}
}

// kindOf is the label of stream: its listed prefix, or "other".
func (m *metrics) kindOf(stream string) string {
	for _, k := range m.kinds {
		if strings.HasPrefix(stream, k) {
			return strings.TrimSuffix(k, "-")
		}
	}
	return "other"
}

// committed counts one group commit of n bytes that took d, with its
// written appends.
func (m *metrics) committed(d time.Duration, n int, written []*appendReq) {
	if m == nil {
		return
	}
	m.commits.Inc()
	m.commitSeconds.Observe(d.Seconds())
	m.bytes.Add(float64(n))
	for _, req := range written {
		shared := "false"
		if req.patient {
			shared = "true"
		}
		m.count(req, shared)
		for _, p := range req.rest { // AppendParts: every part is an append
			m.count(p, shared)
		}
	}
}

// count counts one written append.
func (m *metrics) count(req *appendReq, shared string) {
	m.appends.WithLabelValues(m.kindOf(req.stream), shared).Inc()
	m.events.Add(float64(len(req.events)))
}
