// Package intake owns the public callback API: it validates and records
// callback requests (stream intake-callback-<id>), refuses duplicates (one
// open callback per number and service, held in stream
// intake-contact-<key>: admit.go), lets the visitor cancel and the
// service's clients reschedule (manage.go), and reports the callback's
// state as it learns it from the bus. Every answer about one callback is
// read from the store; the one read model, the index GET /v1/callbacks
// searches (list.go), is folded by every replica from the shared store and
// waits for the store's head before answering, so any replica answers any
// request. It must not import another service.
package intake

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/dialplan"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/inbox"
	"github.com/ringback/ringback/libs/readmodel"
	"github.com/ringback/ringback/libs/selflink"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/services/intake/callback"
	"github.com/ringback/ringback/services/intake/index"
)

// HandlerName is intake's consumer group; never renamed.
const HandlerName = "intake"

// Config of intake.
type Config struct {
	// RefuseDuplicates refuses a second open callback for the same number and
	// service, so one visitor's repeated clicks reach one agent once.
	RefuseDuplicates bool
	// AgentsFile is the binary's --agents: with it, reading a callback
	// takes the token of the agent who accepted it; "" is an open platform.
	AgentsFile string
	// DialCountries and DialTypes are the numbers a callback may be asked
	// for (see libs/dialplan); emergency, premium-rate, shared-cost, short
	// and N11 numbers never may.
	DialCountries, DialTypes string
	// ClaimGrace is how long a number claimed for a callback whose request
	// is not written yet stays refused to others: past it, the claimant is
	// taken for dead and its claim is voided (admit.go). 0 means
	// DefaultClaimGrace.
	ClaimGrace time.Duration
	// ServiceSet is the binary's --services file, loaded: a wished time in
	// a full or closed slot of a service that refuses those is answered
	// 409 with the nearest free slots (slots.go). nil: every service on
	// the defaults, without capacity.
	ServiceSet *serviceconf.Set
	// IDKey keys the callback id derived from an Idempotency-Key, so that
	// nobody can compute someone's callback id from a key they know or
	// guess (issue 16); the binary derives it from the operator's secret.
	// Nil: the id derives from the key alone (tests, and a platform
	// without a secret, which the binary warns of).
	IDKey []byte
	// DefaultRegion (ISO 3166, "US") is the country of a number a GMS site
	// sends without its country code (gms.go); "": the only country of
	// DialCountries when it lists one, else such numbers are refused.
	DefaultRegion string
	// LinkKey signs the visitor's self-service links (self.go); the binary
	// derives it from the operator's secret. LinkKeysFile, LinkTTL and
	// Consent are flags (self.go).
	LinkKey      *selflink.Key
	LinkKeysFile string
	LinkTTL      time.Duration
	Consent      string
	// Limits are the rate limits per client address, number and service
	// (limits.go); the zero value limits nothing.
	Limits Limits
	// MaxOpenPerNumber caps the open callbacks of one number across all
	// services, exactly across replicas (admit.go); 0: no cap.
	MaxOpenPerNumber int
	// Services are the services the binary knows without a services file
	// (--router.services): with ServiceSet or these, a request for any
	// other service is refused (404). Neither: every service is accepted.
	Services []string
	// MoveWait bounds how long a move of a callback that has fallen due
	// waits for the router's decision between it and an agent accepting
	// (manage.go); past it the move is answered 202. 0 means
	// DefaultMoveWait.
	MoveWait time.Duration
	// ProofOfWork is the difficulty (leading zero bits) of the proof of
	// work every service asks of anonymous creates (pow.go); the services
	// file's proof_of_work overrides it per service. 0: none.
	ProofOfWork int
}

// DefaultClaimGrace: a claim and its request are two appends a few
// milliseconds apart; 30 s is far above a live writer's pause (and above
// the clock skew of replicas, whose clocks date claims) and short enough
// that a visitor retrying after a crash waits no longer than that.
const DefaultClaimGrace = 30 * time.Second

// DefaultMoveWait: the decision is three bus hops (intake to scheduler to
// router and back through the scheduler), milliseconds on one process and
// tens of them on Kafka; 3 s covers a loaded cluster and is still a wait a
// visitor who clicked a button sits through.
const DefaultMoveWait = 3 * time.Second

// DefaultMaxOpenPerNumber: a person may well want a callback about two or
// three things at once (sales, support, billing); more open at once is
// someone else's number put in a form.
const DefaultMaxOpenPerNumber = 3

// RegisterFlags registers intake's flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.RefuseDuplicates, "intake.refuse-duplicates", true,
		"refuse a callback for a number and service that already have an open one (409)")
	fs.StringVar(&c.DialCountries, "intake.dial-countries", "",
		"comma list of ISO region codes (US,GB) whose numbers a callback may be asked for; empty: every country. Emergency, premium-rate, shared-cost, short and N11 numbers never may")
	fs.StringVar(&c.DialTypes, "intake.dial-types", "",
		"comma list of number types a callback may be asked for (fixed-line, mobile, fixed-line-or-mobile, toll-free, voip, personal-number, pager, uan, voicemail); empty: fixed-line, mobile, fixed-line-or-mobile, toll-free, voip")
	fs.StringVar(&c.DefaultRegion, "intake.default-region", "",
		"ISO region code (US, GB) of a phone number a site built for GMS sends without its country code (/genesys/...); empty: the only country of --intake.dial-countries if it lists one, else such numbers are refused (400 _customer_number)")
	fs.IntVar(&c.MaxOpenPerNumber, "intake.max-open-per-number", DefaultMaxOpenPerNumber,
		"open callbacks one phone number may have across all services (409 beyond), exact across replicas; 0: no cap")
	c.Limits.registerFlags(fs)
	fs.IntVar(&c.ProofOfWork, "intake.proof-of-work", 0,
		"leading zero bits of SHA-256 an anonymous create must prove it computed (GET /v1/challenge, the form solves it); 16 is about a second in a phone's browser; 0: off, unless the services file's proof_of_work turns it on for a service")
	fs.DurationVar(&c.ClaimGrace, "intake.claim-grace", DefaultClaimGrace,
		"how long a number claimed by a request that was never written (its replica died between the two writes) stays refused (409) before another request may take it")
	fs.DurationVar(&c.MoveWait, "intake.move-wait", DefaultMoveWait,
		"how long a move of a callback that has fallen due waits for the router to decide between it and an agent accepting the callback; past it the move is answered 202 and the callback's state says the outcome later")
	c.linkFlags(fs)
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if _, err := dialplan.Parse(c.DialCountries, c.DialTypes); err != nil {
		return fmt.Errorf("intake: %w", err)
	}
	if c.DefaultRegion != "" {
		if p, err := dialplan.Parse(c.DefaultRegion, ""); err != nil || len(p.Countries) != 1 {
			return fmt.Errorf("intake.default-region: %q is not one region code such as US or GB", c.DefaultRegion)
		}
	}
	if err := c.Limits.validate(); err != nil {
		return err
	}
	if c.ProofOfWork < 0 || c.ProofOfWork > 24 {
		return fmt.Errorf("intake.proof-of-work: %d is not within 0..24", c.ProofOfWork)
	}
	if c.MaxOpenPerNumber < 0 || c.MaxOpenPerNumber > 100 {
		return fmt.Errorf("intake.max-open-per-number: %d is not within 0..100", c.MaxOpenPerNumber)
	}
	if c.ClaimGrace < 0 {
		return fmt.Errorf("intake.claim-grace: must not be negative, got %s", c.ClaimGrace)
	}
	if c.MoveWait < 0 {
		return fmt.Errorf("intake.move-wait: must not be negative, got %s", c.MoveWait)
	}
	return nil
}

func (c *Config) claimGrace() time.Duration {
	if c.ClaimGrace == 0 {
		return DefaultClaimGrace
	}
	return c.ClaimGrace
}

func (c *Config) moveWait() time.Duration {
	if c.MoveWait == 0 {
		return DefaultMoveWait
	}
	return c.MoveWait
}

// Deps are what intake is given.
type Deps struct {
	service.Deps // the skeleton's (libs/service)
	// ContactKeys names the key of a contact's personal data, so that the
	// index forgets the numbers of contacts erased (ContactErased names
	// the key, not the number); nil when personal data is not sealed, and
	// so never erased.
	ContactKeys ContactKeys
}

// ContactKeys is libs/personal's Sealer as the index needs it.
type ContactKeys interface {
	KeyID(number string) string
}

// Service is intake.
type Service struct {
	cfg  Config
	deps Deps
	// key names the claim streams (contact.Stream); loaded from the store
	// at the first request that needs it, then the same for ever.
	key       atomic.Pointer[[]byte]
	claims    claimerState
	requested prometheus.Counter
	voided    prometheus.Counter
	plan      dialplan.Plan
	limits    limiters
	spent     spentSet             // proofs of work accepted by this replica
	agents    *agentauth.Directory // nil: open, no authentication
	// region is the country of a national number on the GMS API ("": none).
	region string
	// idx is the callbacks' index (list.go), folded by proj; mu guards it.
	proj  *readmodel.Projection
	mu    sync.RWMutex
	idx   *index.Index
	links *selflink.Keys // nil: no self-service links
}

// New builds intake and registers its routes.
func New(cfg Config, deps Deps) (*Service, error) {
	plan, err := dialplan.Parse(cfg.DialCountries, cfg.DialTypes)
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	agents, err := deps.Agents(cfg.AgentsFile)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	links, err := cfg.linkKeys(deps.Log)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, deps: deps, plan: plan, agents: agents, idx: index.New(), links: links,
		region: strings.ToUpper(cfg.DefaultRegion)}
	if s.region == "" && len(plan.Countries) == 1 {
		s.region = plan.Countries[0]
	}
	s.proj = &readmodel.Projection{Prefixes: []string{index.StreamPrefix, erasurePrefix}, Apply: s.fold}
	s.requested = prometheus.NewCounter(prometheus.CounterOpts{Name: "ringback_callbacks_requested_total",
		Help: "Callback requests accepted by intake."})
	s.voided = prometheus.NewCounter(prometheus.CounterOpts{Name: "ringback_intake_claims_voided_total",
		Help: "Numbers claimed by a request whose writer died before writing it, taken back after --intake.claim-grace."})
	if err := deps.Register("intake", s.requested, s.voided); err != nil {
		return nil, err
	}
	if err := s.newLimiters(); err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	if cfg.ServiceSet == nil && len(cfg.Services) == 0 {
		deps.Log.Warn("intake accepts callbacks for any service name: name the services with --services or --router.services")
	}
	s.routes(deps.Mux)
	return s, nil
}

// Ready is for /readyz: the callbacks' index holds the store as it was at
// start (list.go), and the claims of callbacks an older version left open
// are made (claimer.go); the duplicate check reads the store.
func (s *Service) Ready() error {
	if !s.claims.caughtUp.Load() {
		return errors.New("intake: claiming the numbers of callbacks open before claims")
	}
	if err := s.proj.Ready(); err != nil {
		return fmt.Errorf("intake: %w", err)
	}
	return nil
}

// Run consumes the bus until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	return s.deps.Run(ctx, s.proj, inbox.Config{Name: HandlerName, Topics: Topics, Only: Only}, s.handle, s.claimer)
}

var aggregate = eventstore.Aggregate[callback.State]{Evolve: callback.Evolve}

// execute runs a command against a callback's stream.
func (s *Service) execute(ctx context.Context, id string, cause eventstore.Cause, cmd callback.Command) (eventstore.Outcome[callback.State], error) {
	return eventstore.Execute(ctx, s.deps.Store, callback.Stream(id), aggregate, cause,
		func(st callback.State) ([]proto.Message, error) { return callback.Decide(st, cmd) })
}
