// Package disposition owns the disposition code catalogue and its rules: an
// interaction accepted by an agent can be qualified with a code of the
// catalogue (stream disposition-interaction-<interaction id>) until the
// agent clicks Done. It must not import another service.
package disposition

import (
	"context"
	"flag"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/inbox"
	"github.com/ringback/ringback/libs/readmodel"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/services/disposition/code"
)

// HandlerName is disposition's consumer group; never renamed.
const HandlerName = "disposition"

// Config of disposition.
type Config struct {
	// Codes is the catalogue, "code[=Label],...".
	Codes string
	// Required says Done needs a code; agent-session enforces it.
	Required bool
	// AgentsFile is the binary's --agents: with it, only the agent who
	// accepted an interaction may set its disposition.
	AgentsFile string

	catalogue code.Catalogue
}

// RegisterFlags registers disposition's flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Codes, "disposition.codes", "resolved,callback-again,no-answer-needed,wrong-number,not-interested",
		"disposition codes agents choose from, comma-separated, each code[=Label] (lower-case, digits, dashes); "+
			"the default covers the outcomes of a web callback")
	fs.BoolVar(&c.Required, "disposition.required", true,
		"agents must set a disposition code before Done, so every interaction is qualified for reporting")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	cat, err := code.ParseCatalogue(c.Codes)
	if err != nil {
		return fmt.Errorf("disposition.codes: %w", err)
	}
	c.catalogue = cat
	return nil
}

// Deps are what disposition is given: the skeleton's (libs/service).
type Deps = service.Deps

// Service is disposition.
type Service struct {
	agents *agentauth.Directory // nil: open
	cfg    Config
	deps   Deps
	view   *view
	proj   *readmodel.Projection
	set    *prometheus.CounterVec
}

// New builds disposition and registers its routes.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	agents, err := deps.Agents(cfg.AgentsFile)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, deps: deps, view: newView(), agents: agents}
	s.proj = &readmodel.Projection{Prefixes: []string{code.StreamPrefix}, Apply: s.view.apply}
	// The label is bounded by the configured catalogue.
	s.set = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringback_dispositions_set_total",
		Help: "Disposition codes set by agents, by code."}, []string{"code"})
	if err := deps.Register("disposition", s.set); err != nil {
		return nil, err
	}
	s.routes(deps.Mux)
	return s, nil
}

// Ready says whether the service's read model has caught up with the
// store, for /readyz: a replica serves only once its view is whole.
func (s *Service) Ready() error { return s.proj.Ready() }

// Run folds disposition's streams and consumes the bus until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	return s.deps.Run(ctx, s.proj, inbox.Config{Name: HandlerName, Topics: Topics, Only: Only}, s.handle)
}

var (
	aggregate = eventstore.Aggregate[code.State]{Evolve: code.Evolve}
	codes     = service.Domain[code.State, code.Command]{Stream: code.Stream, Aggregate: aggregate, Decide: code.Decide}
)

// execute runs a command against an interaction's disposition.
func (s *Service) execute(ctx context.Context, interactionID string, cause eventstore.Cause, cmd code.Command) (eventstore.Outcome[code.State], error) {
	return codes.Execute(ctx, s.deps.Store, interactionID, cause, cmd)
}
