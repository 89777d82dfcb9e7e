// Package history owns the contact history: every event of every callback,
// copied from the bus into the callback's audit trail (stream
// history-callback-<callback id>), the agents' notes, and the contact's
// history and in-progress / recent interaction matrices derived from them.
// Its memory is bounded (--history.cached-callbacks): what it does not
// hold it reads from the store, through index streams of its own
// (index.go). It must not import another service.
package history

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/inbox"
	"github.com/ringback/ringback/libs/readmodel"
	"github.com/ringback/ringback/libs/service"
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
	// CachedCallbacks caps the callbacks held in memory; 0 means
	// DefaultCachedCallbacks.
	CachedCallbacks int
}

// DefaultCachedCallbacks: a held callback costs a few kilobytes (see
// BenchmarkViewMemory), so 20,000 is some tens of megabytes, well inside
// the pod's 512Mi, and more than the callbacks live at once on a
// 10,000-agent site; ended ones go first.
const DefaultCachedCallbacks = 20000

// MinCachedCallbacks keeps a misconfiguration from reading every callback
// from the store on every request.
const MinCachedCallbacks = 100

// RegisterFlags registers history's flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.RecentDays, "history.recent-days", 1,
		"days (1-366) the recent interactions matrix looks back when the request names none; 1 is the agent desktop's 'within the last day'")
	fs.IntVar(&c.CachedCallbacks, "history.cached-callbacks", DefaultCachedCallbacks,
		"callbacks whose summary a replica holds in memory (live ones kept before ended ones); the rest are read from the store when asked for. A few KiB each")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.RecentDays < 1 || c.RecentDays > MaxRecentDays {
		return fmt.Errorf("history.recent-days: must be 1 to %d, got %d", MaxRecentDays, c.RecentDays)
	}
	if c.CachedCallbacks != 0 && c.CachedCallbacks < MinCachedCallbacks {
		return fmt.Errorf("history.cached-callbacks: must be at least %d, got %d", MinCachedCallbacks, c.CachedCallbacks)
	}
	return nil
}

func (c *Config) cachedCallbacks() int {
	if c.CachedCallbacks == 0 {
		return DefaultCachedCallbacks
	}
	return c.CachedCallbacks
}

// Deps are what history is given.
type Deps struct {
	service.Deps // the skeleton's (libs/service)
	// Eraser destroys contacts' keys for DELETE /v1/contacts/{number};
	// nil: personal data is not sealed, and the route answers 503.
	Eraser Eraser
}

// Service is history.
type Service struct {
	agents *agentauth.Directory // nil: open
	cfg    Config
	deps   Deps
	view   *view
	idx    indexes
	proj   *readmodel.Projection
	// trails holds the revision and event ids of the trails being
	// recorded, so recording an event reads only what was appended to its
	// trail since the last one (by this replica or another), not the whole
	// trail again (issue 12).
	trails   *eventstore.Cache[struct{}]
	recorded prometheus.Counter
	notes    prometheus.Counter
	loaded   prometheus.Counter
}

// New builds history and registers its routes.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	agents, err := deps.Agents(cfg.AgentsFile)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, deps: deps, view: newView(cfg.cachedCallbacks()), agents: agents}
	s.trails = eventstore.NewCache[struct{}](cfg.cachedCallbacks())
	s.idx.linked = newLRU[string, struct{}](2 * cfg.cachedCallbacks())
	// The view is a cache that reads from the store what it does not hold
	// (through the index streams), so a restart replays nothing: it starts
	// at the head.
	s.proj = &readmodel.Projection{Prefixes: []string{timeline.StreamPrefix, ErasureStreamPrefix},
		Apply: s.apply, FromHead: true}
	s.recorded = prometheus.NewCounter(prometheus.CounterOpts{Name: "ringback_history_events_recorded_total",
		Help: "Events of callbacks copied into their audit trail."})
	s.notes = prometheus.NewCounter(prometheus.CounterOpts{Name: "ringback_history_notes_added_total",
		Help: "Notes agents added to interactions."})
	s.loaded = prometheus.NewCounter(prometheus.CounterOpts{Name: "ringback_history_callbacks_loaded_total",
		Help: "Callbacks read from the store because memory did not hold them: if it climbs with the traffic, raise --history.cached-callbacks."})
	held := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ringback_history_callbacks_held",
		Help: "Callbacks whose summary this replica holds in memory (at most --history.cached-callbacks)."},
		func() float64 { return float64(s.view.size()) })
	if err := deps.Register("history", s.recorded, s.notes, s.loaded, held); err != nil {
		return nil, err
	}
	s.routes(deps.Mux)
	return s, nil
}

// Ready says whether the service's read model has caught up with the
// store and every trail is indexed, for /readyz: a replica serves only
// once it can find every callback.
func (s *Service) Ready() error {
	if err := s.proj.Ready(); err != nil {
		return err
	}
	if !s.idx.backfilled.Load() {
		return errors.New("history: indexing the trails of an older version")
	}
	return nil
}

// Run folds history's streams and consumes the bus until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	return s.deps.Run(ctx, s.proj, inbox.Config{Name: HandlerName, Topics: Topics}, s.handle, s.indexer)
}

var aggregate = eventstore.Aggregate[timeline.State]{Evolve: timeline.Evolve}

// appendOnly folds nothing: recording an event needs no state, only the
// stream's revision, so a write does not decode the whole trail again.
var appendOnly = eventstore.Aggregate[struct{}]{Evolve: func(s struct{}, _ proto.Message) struct{} { return s }}

// record copies an event into its callback's history. The cache is
// read-through: the store's tail past the cached revision is read each
// time, and an append that lost to another replica reads it again. The
// copy shares its sync with the next append (eventstore.WithSharedSync):
// it is made as the next service appends its reaction to the same event,
// and nobody waits on it but this inbox.
func (s *Service) record(ctx context.Context, cause eventstore.Cause, r timeline.Record) (eventstore.Outcome[struct{}], error) {
	ctx = eventstore.WithSharedSync(ctx)
	return eventstore.ExecuteCached(ctx, s.deps.Store, s.trails, timeline.Stream(r.CallbackID), appendOnly, cause,
		func(struct{}) ([]proto.Message, error) { return timeline.Decide(timeline.State{}, r) })
}

// execute runs a command against a callback's history.
func (s *Service) execute(ctx context.Context, callbackID string, cause eventstore.Cause, cmd timeline.Command) (eventstore.Outcome[timeline.State], error) {
	return eventstore.Execute(ctx, s.deps.Store, timeline.Stream(callbackID), aggregate, cause,
		func(st timeline.State) ([]proto.Message, error) { return timeline.Decide(st, cmd) })
}
