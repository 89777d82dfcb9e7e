// Package mediagateway is where a web callback becomes a phone call. It
// consumes the agent's call commands, places the call through its SIP
// adapter (package sip: agent leg, then contact leg through the trunk), and
// records every step of the attempt in stream media-call-<id>. It must not
// import another service.
package mediagateway

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/clock"
	"github.com/ringback/ringback/libs/dialplan"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/inbox"
	"github.com/ringback/ringback/libs/lifecycle"
	"github.com/ringback/ringback/libs/readmodel"
	"github.com/ringback/ringback/services/media-gateway/call"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

// HandlerName is the gateway's consumer group; never renamed.
const HandlerName = "media-gateway"

// Config of the media gateway.
type Config struct {
	Trunk              string // host:port; contacts are dialled as sip:<E.164>@trunk
	CallerID           string
	AgentRingTimeout   time.Duration
	ContactRingTimeout time.Duration
	Recordings         string // directory of call recordings; set from --data by the binary
	TrunkKeepAlive     time.Duration
	TrunkUser          string
	TrunkPassword      string
	ContactFirst       string // comma list of services whose calls ring the contact first
	AccountsFile       string // SIP accounts of agents' softphones, for REGISTER
	DialCountries      string // comma list of region codes numbers may be in; "": every country
	DialTypes          string // comma list of number types that may be dialled; "": dialplan.DefaultTypes
}

// RegisterFlags registers the gateway's flags; --sip and --sip-trunk are the
// binary's, since every deployment sets them.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.CallerID, "media.caller-id", "ringback", "user part of the From header toward the trunk")
	fs.DurationVar(&c.AgentRingTimeout, "media.agent-ring-timeout", 20*time.Second,
		"how long the agent's phone rings before the attempt fails (a desk phone is answered in seconds)")
	fs.DurationVar(&c.ContactRingTimeout, "media.contact-ring-timeout", 30*time.Second,
		"how long the contact's phone rings before No answer (about six rings)")
	fs.StringVar(&c.TrunkUser, "media.trunk-user", "", "user for digest authentication to the trunk (401/407 challenges); empty: none")
	fs.StringVar(&c.TrunkPassword, "media.trunk-password", "", "password for the trunk; prefer RINGBACK_MEDIA_TRUNK_PASSWORD to keep it out of the process list")
	fs.StringVar(&c.ContactFirst, "media.contact-first", "",
		"comma list of services dialled contact first (ring the contact, then the agent); the others ring the agent's phone first")
	fs.DurationVar(&c.TrunkKeepAlive, "media.trunk-keepalive", 30*time.Second,
		"interval of SIP OPTIONS probes to the trunk; after 3 unanswered the gateway is not ready (/readyz); 0 disables")
	fs.StringVar(&c.DialCountries, "media.dial-countries", "",
		"comma list of ISO region codes (US,GB) whose numbers may be dialled, contacts and third parties alike; empty: every country. Emergency, premium-rate, shared-cost, short and N11 numbers are never dialled")
	fs.StringVar(&c.DialTypes, "media.dial-types", "",
		"comma list of number types that may be dialled (fixed-line, mobile, fixed-line-or-mobile, toll-free, voip, personal-number, pager, uan, voicemail); empty: fixed-line, mobile, fixed-line-or-mobile, toll-free, voip")
	fs.StringVar(&c.AccountsFile, "media.sip-accounts", "",
		`JSON file {"agent id": "password", ...} of the softphones that may REGISTER with the gateway (digest auth); an agent logged in without a phone URI is rung at its registered contact`)
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Trunk == "" || !strings.Contains(c.Trunk, ":") {
		return fmt.Errorf("media-gateway: --sip-trunk must be host:port, got %q", c.Trunk)
	}
	if c.TrunkKeepAlive < 0 {
		return errors.New("media-gateway: trunk keep-alive must be >= 0")
	}
	if c.AgentRingTimeout <= 0 || c.ContactRingTimeout <= 0 {
		return errors.New("media-gateway: ring timeouts must be positive")
	}
	if _, err := dialplan.Parse(c.DialCountries, c.DialTypes); err != nil {
		return fmt.Errorf("media-gateway: %w", err)
	}
	return nil
}

// Dialer places calls: the SIP adapter, behind the methods we use. The
// *sip.Call it returns is driven directly (hold, DTMF, mute, record).
type Dialer interface {
	// Dial rings the agent's phone, then the contact.
	Dial(ctx context.Context, id, agentURI, number string, report func(sip.Progress)) (*sip.Call, error)
	// DialContactFirst rings the contact, then the agent's phone.
	DialContactFirst(ctx context.Context, id, agentURI, number string, report func(sip.Progress)) (*sip.Call, error)
}

// contactFirst says whether a service's calls ring the contact first.
func (c Config) contactFirst(service string) bool {
	for _, s := range strings.Split(c.ContactFirst, ",") {
		if strings.TrimSpace(s) == service && service != "" {
			return true
		}
	}
	return false
}

// Deps are what the gateway is given.
type Deps struct {
	Store       eventstore.Store
	Subscribers inbox.Subscribers
	Dialer      Dialer
	Clock       clock.Clock
	Log         *slog.Logger
	Metrics     prometheus.Registerer
}

// Service is the media gateway.
type Service struct {
	cfg      Config
	deps     Deps
	instance string // this process's id: calls of other instances are lost calls
	proj     *readmodel.Projection
	calls    *calls
	plan     dialplan.Plan // what may be dialled; the SIP adapter refuses what no plan allows once more, last

	wg      sync.WaitGroup
	runCtx  context.Context // lives as long as Run: the calls it places end with it
	stop    context.CancelFunc
	setups  prometheus.Counter
	outcome *prometheus.CounterVec
}

// New builds the gateway.
func New(cfg Config, deps Deps) (*Service, error) {
	plan, err := dialplan.Parse(cfg.DialCountries, cfg.DialTypes)
	if err != nil {
		return nil, fmt.Errorf("media-gateway: %w", err)
	}
	s := &Service{cfg: cfg, deps: deps, instance: uuid.NewString(), calls: newCalls(), plan: plan}
	s.runCtx, s.stop = context.WithCancel(context.Background())
	s.proj = &readmodel.Projection{Prefixes: []string{"media-call-"}, Apply: s.calls.apply}
	s.setups = prometheus.NewCounter(prometheus.CounterOpts{Name: "ringback_call_attempts_total", Help: "Call attempts placed."})
	s.outcome = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringback_call_outcomes_total",
		Help: "Call attempts by how they ended."}, []string{"outcome"})
	for _, c := range []prometheus.Collector{s.setups, s.outcome} {
		if err := deps.Metrics.Register(c); err != nil {
			return nil, fmt.Errorf("media-gateway metrics: %w", err)
		}
	}
	return s, nil
}

// Ready says whether the service's read model has caught up with the
// store, for /readyz: a replica serves only once its view is whole.
func (s *Service) Ready() error { return s.proj.Ready() }

// Run consumes call commands until ctx is done, then hangs up what it holds.
func (s *Service) Run(ctx context.Context) error {
	err := lifecycle.Run(ctx,
		func(ctx context.Context) error { return s.proj.Run(ctx, s.deps.Store) },
		func(ctx context.Context) error {
			return inbox.Consume(ctx, s.deps.Subscribers, inbox.Config{Name: HandlerName, Topics: Topics, Log: s.deps.Log}, s.handle)
		},
		s.recoverLost,
	)
	// What the loops started (timers, calls) stops with them.
	s.stop()
	s.wg.Wait()
	return err
}

var calls_ = eventstore.Aggregate[call.State]{Evolve: call.Evolve}

func (s *Service) execute(ctx context.Context, id string, cause eventstore.Cause, cmd any) (eventstore.Outcome[call.State], error) {
	return eventstore.Execute(ctx, s.deps.Store, call.Stream(id), calls_, cause,
		func(st call.State) ([]proto.Message, error) { return call.Decide(st, cmd) })
}

// LoadAccounts reads the SIP accounts file: agent id -> password.
func LoadAccounts(path string) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sip accounts: %w", err)
	}
	var accounts map[string]string
	if err := json.Unmarshal(b, &accounts); err != nil {
		return nil, fmt.Errorf("sip accounts %s: %w", path, err)
	}
	for user, pass := range accounts {
		if user == "" || pass == "" {
			return nil, fmt.Errorf("sip accounts %s: empty user or password", path)
		}
	}
	return accounts, nil
}
