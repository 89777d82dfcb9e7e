// Package history owns the contact history: every event of every callback,
// copied from the bus into the callback's audit trail (stream
// history-callback-<callback id>), the agents' notes, and the contact's
// history and in-progress / recent interaction matrices derived from them.
// It must not import another service.
package history

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/clock"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/inbox"
	"github.com/ringback/ringback/libs/lifecycle"
	"github.com/ringback/ringback/libs/readmodel"
	"github.com/ringback/ringback/services/history/timeline"
)

// HandlerName is history's consumer group; never renamed.
const HandlerName = "history"

// MaxRecentDays bounds the recent-interactions window.
const MaxRecentDays = 366

// Config of history.
type Config struct {
	// RecentDays is the default window of the recent interactions matrix.
	RecentDays int
	// AgentsFile is the binary's --agents: with it, an interaction's trail
	// and its contact's history are read only by the agents it was offered
	// to or accepted by, and notes and case data written only by the agent
	// who accepted it.
	AgentsFile string
}

// RegisterFlags registers history's flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.RecentDays, "history.recent-days", 1,
		"days (1-366) the recent interactions matrix looks back when the request names none; 1 is the agent desktop's 'within the last day'")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.RecentDays < 1 || c.RecentDays > MaxRecentDays {
		return fmt.Errorf("history.recent-days: must be 1 to %d, got %d", MaxRecentDays, c.RecentDays)
	}
	return nil
}

// Deps are what history is given.
type Deps struct {
	Store       eventstore.Store
	Subscribers inbox.Subscribers
	Clock       clock.Clock
	Log         *slog.Logger
	Metrics     prometheus.Registerer
	Mux         *http.ServeMux
}

// Service is history.
type Service struct {
	agents   *agentauth.Directory // nil: open
	cfg      Config
	deps     Deps
	view     *view
	proj     *readmodel.Projection
	recorded prometheus.Counter
	notes    prometheus.Counter
}

// New builds history and registers its routes.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	agents, err := agentauth.Load(cfg.AgentsFile)
	if err != nil {
		return nil, err
	}
	agentauth.WarnOpen(deps.Log, agents)
	s := &Service{cfg: cfg, deps: deps, view: newView(), agents: agents}
	s.proj = &readmodel.Projection{Prefixes: []string{timeline.StreamPrefix}, Apply: s.view.apply}
	s.recorded = prometheus.NewCounter(prometheus.CounterOpts{Name: "ringback_history_events_recorded_total",
		Help: "Events of callbacks copied into their audit trail."})
	s.notes = prometheus.NewCounter(prometheus.CounterOpts{Name: "ringback_history_notes_added_total",
		Help: "Notes agents added to interactions."})
	for _, c := range []prometheus.Collector{s.recorded, s.notes} {
		if err := deps.Metrics.Register(c); err != nil {
			return nil, fmt.Errorf("history metrics: %w", err)
		}
	}
	s.routes(deps.Mux)
	return s, nil
}

// Ready says whether the service's read model has caught up with the
// store, for /readyz: a replica serves only once its view is whole.
func (s *Service) Ready() error { return s.proj.Ready() }

// Run folds history's streams and consumes the bus until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	return lifecycle.Run(ctx,
		func(ctx context.Context) error { return s.proj.Run(ctx, s.deps.Store) },
		func(ctx context.Context) error {
			return inbox.Consume(ctx, s.deps.Subscribers, inbox.Config{Name: HandlerName, Topics: Topics, Log: s.deps.Log}, s.handle)
		},
	)
}

var aggregate = eventstore.Aggregate[timeline.State]{Evolve: timeline.Evolve}

// appendOnly folds nothing: recording an event needs no state, only the
// stream's revision, so a write does not decode the whole trail again.
var appendOnly = eventstore.Aggregate[struct{}]{Evolve: func(s struct{}, _ proto.Message) struct{} { return s }}

// record copies an event into its callback's history.
func (s *Service) record(ctx context.Context, cause eventstore.Cause, r timeline.Record) (eventstore.Outcome[struct{}], error) {
	return eventstore.Execute(ctx, s.deps.Store, timeline.Stream(r.CallbackID), appendOnly, cause,
		func(struct{}) ([]proto.Message, error) { return timeline.Decide(timeline.State{}, r) })
}

// execute runs a command against a callback's history.
func (s *Service) execute(ctx context.Context, callbackID string, cause eventstore.Cause, cmd any) (eventstore.Outcome[timeline.State], error) {
	return eventstore.Execute(ctx, s.deps.Store, timeline.Stream(callbackID), aggregate, cause,
		func(st timeline.State) ([]proto.Message, error) { return timeline.Decide(st, cmd) })
}
