// Package router owns the queues of due callbacks, the offers of those
// interactions to agents ready on the web-callback channel, and the offers'
// timeouts. It writes router-interaction-<id> (queued, offered, accepted,
// rejected, timed out, closed) and router-agent-<id> (what it learned of the
// agent: readiness, skills, and that it stopped offering after missed
// offers), learns everything else from the bus, and must not import another
// service.
//
// Routing follows the services' rules (config.go): required skills and
// levels, priority raised by aging, per-service offer timeouts. One
// dispatcher goroutine makes every offer, timeout and missed-offer stop,
// working on a model folded from the router's own streams (queue/); the
// inbox records the agents' answers. See dispatch.go for why that split
// keeps one offer per agent. Of N replicas, the one holding the dispatcher
// lease dispatches, its writes fenced by the lease; all of them run the
// inbox and the read model (leader.go).
package router

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/inbox"
	"github.com/ringback/ringback/libs/readmodel"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/services/router/offer"
	"github.com/ringback/ringback/services/router/queue"
)

// HandlerName is the router's consumer group; never renamed.
const HandlerName = "router"

// Deps are what router is given: the skeleton's (libs/service).
type Deps = service.Deps

// Service is the router.
// agentCacheSize bounds the agents whose streams stay folded in memory: a
// few hundred bytes each, for every agent a large center logs in.
const agentCacheSize = 50000

type Service struct {
	agentCache *eventstore.Cache[queue.Availability]
	cfg        Config
	deps       Deps
	proj       *readmodel.Projection
	// mu guards model: the projection writes it, the dispatcher and the
	// HTTP handlers read it.
	mu    sync.Mutex
	model *queue.Model

	offers      prometheus.Counter
	missed      prometheus.Counter
	leader      prometheus.Gauge
	takeovers   prometheus.Counter
	queuedToOff prometheus.Histogram
	outcomes    *outcomeMetrics
	agents      *agentauth.Directory // nil: open, no authentication
}

// New builds the router and registers its routes.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	agents, err := deps.Agents(cfg.AgentsFile)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, deps: deps, model: queue.New(cfg.Rules()), agents: agents,
		agentCache: eventstore.NewCache[queue.Availability](agentCacheSize)}
	s.proj = &readmodel.Projection{Prefixes: []string{"router-"}, Apply: s.apply}
	s.offers = prometheus.NewCounter(prometheus.CounterOpts{Name: "ringback_router_offers_total",
		Help: "Offers of interactions to agents made by the router."})
	s.missed = prometheus.NewCounter(prometheus.CounterOpts{Name: "ringback_router_missed_offers_stops_total",
		Help: "Agents the router stopped offering to after too many missed offers in a row."})
	s.queuedToOff = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ringback_router_queued_to_offered_seconds",
		Help:    "Time from an interaction being queued to its first offer to an agent.",
		Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800}})
	s.leader = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ringback_router_dispatcher_leader",
		Help: "1 while this replica holds the dispatcher lease and dispatches, 0 on standby."})
	s.takeovers = prometheus.NewCounter(prometheus.CounterOpts{Name: "ringback_router_dispatcher_leases_taken_total",
		Help: "Times this replica took the dispatcher lease (at start, or from a leader that died or stepped down)."})
	if err := deps.Register("router", s.offers, s.missed, s.queuedToOff, s.leader, s.takeovers); err != nil {
		return nil, err
	}
	if s.outcomes, err = newOutcomeMetrics(deps.Metrics); err != nil {
		return nil, err
	}
	s.routes(deps.Mux)
	return s, nil
}

// Ready says whether the service's read model has caught up with the
// store, for /readyz: a replica serves only once its view is whole.
func (s *Service) Ready() error { return s.proj.Ready() }

// Run folds the router's streams, consumes the bus and dispatches until ctx
// is done.
func (s *Service) Run(ctx context.Context) error {
	return s.deps.Run(ctx, s.proj, inbox.Config{Name: HandlerName, Topics: Topics, Only: Only}, s.handle, s.lead)
}

// apply folds one of the router's own events into the model.
func (s *Service) apply(_ eventstore.RecordedEvent, e proto.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.model.Apply(e)
}

var (
	interactions = eventstore.Aggregate[offer.State]{Evolve: offer.Evolve}
	agents       = eventstore.Aggregate[queue.Availability]{Evolve: queue.EvolveAvailability}
)

// execute runs a command against an interaction's stream.
func (s *Service) execute(ctx context.Context, interactionID string, cause eventstore.Cause, cmd offer.Command) (eventstore.Outcome[offer.State], error) {
	var before offer.State
	out, err := eventstore.Execute(ctx, s.deps.Store, offer.Stream(interactionID), interactions, cause,
		func(st offer.State) ([]proto.Message, error) { before = st; return offer.Decide(st, cmd) })
	if err == nil {
		s.outcomes.observe(before, out.Events)
	}
	return out, err
}
