// Package mediagateway is where a web callback becomes a phone call. It
// consumes the agent's call commands, places the call through its SIP
// adapter (package sip: agent leg, then contact leg through the trunk), and
// records every step of the attempt in stream media-call-<id>. It must not
// import another service.
//
// Any number of instances share the work (owner.go): each owns the calls
// it placed under a heartbeat lease in the store, control requests reach
// the owner through the call's stream (forward.go), a dead instance's calls
// are hung up by the one that takes its lease over (takeover.go), phones'
// registrations are events every instance folds (registrations.go), and a
// stopping instance drains.
package mediagateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/dialplan"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/readmodel"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/services/media-gateway/call"
	"github.com/ringback/ringback/services/media-gateway/sip"
	"github.com/ringback/ringback/services/media-gateway/telephony"
	"github.com/ringback/ringback/services/media-gateway/webphone"
)

// HandlerName is the gateway's consumer group; never renamed.
const HandlerName = "media-gateway"

// Config of the media gateway.
type Config struct {
	// Listen and Trunk are the binary's --sip and --sip-trunk: where the
	// service's own SIP adapter listens (host:port) and where it dials
	// contacts (sip:<E.164>@trunk).
	Listen             string
	Trunk              string
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
	// Scaling out (owner.go): who this instance is, its heartbeat lease,
	// and how long a stopping instance lets its calls finish.
	InstanceID string
	LeaseTTL   time.Duration
	DrainGrace time.Duration
	// Session timers offered on every leg (RFC 4028).
	SessionExpires time.Duration
	MinSE          time.Duration
	// SIP: transports, TLS, digest and per-source limits (sipconfig.go).
	SIP SIPConfig
	// Phone: the browsers' phones (phone.go); AgentsFile (the binary's
	// --agents) says who may answer on them.
	Phone      PhoneConfig
	AgentsFile string
	// ServiceSet is the binary's --services file, loaded: whether the agent
	// may leave a conference of the service's calls (conference.
	// agent_may_leave). nil: the defaults.
	ServiceSet *serviceconf.Set
}

// Defaults of the scaling flags.
const (
	// DefaultLeaseTTL: a dead instance's calls are hung up by another
	// within about this long (plus a third of it, the survivors' scan).
	DefaultLeaseTTL = 10 * time.Second
	// DefaultDrainGrace: how long a stopping gateway lets its calls go on.
	// Kubernetes' terminationGracePeriodSeconds must exceed it (330 s for
	// 5 min: the grace, the BYEs' 5 s, the lease release, margin).
	DefaultDrainGrace = 5 * time.Minute
)

// RegisterFlags registers the gateway's flags; --sip and --sip-trunk are the
// binary's, since every deployment sets them.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.CallerID, "media.caller-id", "ringback", "user part of the From header toward the trunk")
	fs.DurationVar(&c.AgentRingTimeout, "media.agent-ring-timeout", sip.DefaultAgentRingTimeout,
		"how long the agent's phone rings before the attempt fails (a desk phone is answered in seconds)")
	fs.DurationVar(&c.ContactRingTimeout, "media.contact-ring-timeout", sip.DefaultContactRingTimeout,
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
	fs.StringVar(&c.InstanceID, "media.instance-id", "",
		"this gateway instance's id (a pod name); empty: a random one. It names the instance's heartbeat lease media-gateway-<id> and the calls it owns")
	fs.DurationVar(&c.LeaseTTL, "media.lease-ttl", DefaultLeaseTTL,
		"how long the instance's heartbeat lease lasts unrenewed (renewed every third of it): another instance hangs up a dead one's calls about this long after it died")
	fs.DurationVar(&c.DrainGrace, "media.drain-grace", DefaultDrainGrace,
		"on SIGTERM, how long live calls may go on before the gateway hangs them up (no new call is taken meanwhile); set Kubernetes' terminationGracePeriodSeconds above it (330 for 5m)")
	fs.DurationVar(&c.SessionExpires, "media.session-expires", sip.DefaultSessionExpires,
		"session interval offered on every leg (RFC 4028 session timers; the gateway refreshes at half of it, so a trunk ends a dead gateway's calls by itself); 0 offers none")
	fs.DurationVar(&c.MinSE, "media.min-se", sip.MinSessionExpires,
		"smallest session interval accepted (Min-SE); RFC 4028 allows no less than 90s toward real peers")
	fs.StringVar(&c.AccountsFile, "media.sip-accounts", "",
		`JSON file {"agent id": "password" or {"password": "...", "algorithms": ["SHA-256", "MD5"]}, ...} of the softphones that may REGISTER with the gateway (digest auth); an agent logged in without a phone URI is rung at its registered contact`)
	c.SIP.RegisterFlags(fs)
	c.Phone.RegisterFlags(fs)
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
	if c.Phone.Port > 65535 {
		return fmt.Errorf("media-gateway: --media.webrtc-port %d: want a UDP port, 0 to 65535", c.Phone.Port)
	}
	if _, err := dialplan.Parse(c.DialCountries, c.DialTypes); err != nil {
		return fmt.Errorf("media-gateway: %w", err)
	}
	if c.LeaseTTL < 0 || c.DrainGrace < 0 || c.SessionExpires < 0 || c.MinSE < 0 {
		return errors.New("media-gateway: lease ttl, drain grace and session intervals must be >= 0")
	}
	if c.SessionExpires > 0 && c.SessionExpires < c.MinSE {
		return fmt.Errorf("media-gateway: --media.session-expires %v is below --media.min-se %v", c.SessionExpires, c.MinSE)
	}
	if err := c.SIP.Validate(); err != nil {
		return err
	}
	if c.InstanceID != "" && !validInstance(c.InstanceID) {
		return fmt.Errorf("media-gateway: --media.instance-id %q: want letters, digits, '.', '_' or '-'", c.InstanceID)
	}
	return nil
}

// Dialer places calls (package telephony: the service's port; the SIP
// adapter's sip.Port implements it). What the adapter offers besides is
// used when the Dialer has it: Bye and Cancel (telephony.Legs: end a lost
// call's legs from their recorded dialogs), Keep (stay up while the
// service drains), SetRegistry (registrations shared through the store).
type Dialer = telephony.Dialer

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
	service.Deps // the skeleton's (libs/service); Mux: the browsers' phones' signalling, if any
	// Dialer places the calls; nil: the service runs its own SIP adapter
	// (adapter.go) from Config, with the browsers' phones as Phones.
	Dialer Dialer
	// Recordings seals recordings with the contact's key (issue 16 point
	// 9: erased with the contact); nil: plain WAV files.
	Recordings RecordingSealer
	// Phones are the browsers' phones, whose signalling routes go on Mux;
	// nil: none (phone.go).
	Phones *webphone.Phones
}

// Service is the media gateway.
type Service struct {
	cfg      Config
	deps     Deps
	instance string // this instance's id: it owns the calls it placed
	holder   string // instance and boot: a restart is a new holder of the same lease
	leases   eventstore.Leases
	proj     *readmodel.Projection
	calls    *calls
	regs     *registrations
	regCache *eventstore.Cache[registrationState]
	fwd      *forwards
	plan     dialplan.Plan // what may be dialled; the SIP adapter refuses what no plan allows once more, last

	leaseMu  sync.Mutex
	lease    eventstore.Lease // held while Run runs (owner.go)
	draining atomic.Bool      // SIGTERM: no new call
	crashed  atomic.Bool      // tests: a kill -9, nothing more is written
	paused   atomic.Bool      // tests: a process paused (GC, SIGSTOP) past its lease
	halt     context.Context  // done once crashed: consume no more
	haltNow  context.CancelFunc

	own       *adapter // the SIP adapter the service runs itself; nil: Deps.Dialer is someone else's
	wg        sync.WaitGroup
	runCtx    context.Context // the calls it places end with it (the drain's end)
	stop      context.CancelFunc
	setups    prometheus.Counter
	outcome   *prometheus.CounterVec
	setupTime *prometheus.HistogramVec // outcome
	lost      prometheus.Counter
	takeover  prometheus.Histogram
	fwdCount  prometheus.Counter
}

// New builds the gateway.
func New(cfg Config, deps Deps) (_ *Service, err error) {
	plan, err := dialplan.Parse(cfg.DialCountries, cfg.DialTypes)
	if err != nil {
		return nil, fmt.Errorf("media-gateway: %w", err)
	}
	leases, ok := deps.Store.(eventstore.Leases)
	if !ok {
		return nil, fmt.Errorf("media-gateway: the %T store grants no leases: a gateway's calls need an owner", deps.Store)
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	instance := cfg.InstanceID
	if instance == "" {
		instance = uuid.NewString()[:8]
	}
	var own *adapter
	if deps.Dialer == nil {
		if own, err = openSIP(cfg, deps.Log); err != nil {
			return nil, err // named by openSIP
		}
		deps.Dialer, deps.Phones = sip.Port{Gateway: own.gw}, own.phones
		defer func() {
			if err != nil { // what it bound is released: the service will not run
				own.close()
			}
		}()
	}
	s := &Service{cfg: cfg, deps: deps, own: own, instance: instance, holder: instance + "/" + uuid.NewString()[:8], leases: leases,
		calls: newCalls(), regs: newRegistrations(), regCache: eventstore.NewCache[registrationState](10000), fwd: newForwards(), plan: plan}
	s.runCtx, s.stop = context.WithCancel(context.Background())
	s.halt, s.haltNow = context.WithCancel(context.Background())
	s.proj = &readmodel.Projection{Prefixes: []string{call.StreamPrefix, registrationPrefix}, Apply: s.apply}
	if r, ok := deps.Dialer.(interface{ SetRegistry(sip.Registry) }); ok {
		r.SetRegistry(registry{s})
	}
	s.setups = prometheus.NewCounter(prometheus.CounterOpts{Name: "ringback_call_attempts_total", Help: "Call attempts placed."})
	s.outcome = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringback_call_outcomes_total",
		Help: "Call attempts by how they ended."}, []string{"outcome"})
	s.lost = prometheus.NewCounter(prometheus.CounterOpts{Name: "ringback_media_lost_calls_total",
		Help: "Calls of a dead gateway instance hung up by this one."})
	s.takeover = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ringback_media_takeover_seconds",
		Help:    "From a dead instance's lease expiry (store clock) to its calls hung up and recorded ended, by the instance taking over.",
		Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30}})
	s.fwdCount = prometheus.NewCounter(prometheus.CounterOpts{Name: "ringback_media_forwarded_requests_total",
		Help: "Call-control requests this instance handed to the call's owner through the call's stream."})
	s.setupTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ringback_call_setup_seconds",
		Help: "From the gateway starting a call attempt to its end of setup: the contact answering (outcome connected) or the attempt failing (busy, no_answer, failed...). Agent leg included.",
		// 0.25s..~68s: both legs ring for up to their ring timeouts.
		Buckets: prometheus.ExponentialBuckets(0.25, 2, 9)}, []string{"outcome"})
	for _, o := range []string{"connected", telephony.OutcomeBusy.String(), telephony.OutcomeNoAnswer.String(), telephony.OutcomeFailed.String()} {
		s.outcome.WithLabelValues(o) // exported at 0, so a rate exists before the first of each
	}
	if deps.Phones != nil && deps.Mux != nil {
		agents, err := agentauth.Load(cfg.AgentsFile)
		if err != nil {
			return nil, fmt.Errorf("media-gateway: %w", err)
		}
		agentauth.Register(deps.Mux, deps.Log, agents, s.phoneRoutes())
	}
	if err := deps.Register("media-gateway", s.setups, s.outcome, s.lost, s.takeover, s.fwdCount, s.setupTime); err != nil {
		return nil, err
	}
	return s, nil
}

// Ready says whether the service takes calls, for /readyz: its read model
// has caught up with the store, it holds its lease, and it is not
// draining.
func (s *Service) Ready() error {
	if s.draining.Load() {
		return errDraining
	}
	if s.currentLease().Generation == 0 {
		return errors.New("no lease yet")
	}
	if t, ok := s.deps.Dialer.(interface{ TrunkUp() bool }); ok && !t.TrunkUp() {
		return errors.New("the SIP trunk does not answer OPTIONS")
	}
	return s.proj.Ready()
}

var calls_ = eventstore.Aggregate[call.State]{Evolve: call.Evolve}

// execute is the gateway's only write to a call's stream: every event is
// decided by call.Decide from the call as folded, under the instance's
// lease's fence, so that once another instance took its calls over, a
// write of this one fails (eventstore.ErrFenced) instead of contradicting
// the taker.
func (s *Service) execute(ctx context.Context, id string, cause eventstore.Cause, cmd call.Command) (eventstore.Outcome[call.State], error) {
	if s.crashed.Load() {
		return eventstore.Outcome[call.State]{}, errCrashed
	}
	return eventstore.Execute(s.fence(ctx), s.deps.Store, call.Stream(id), calls_, cause,
		func(st call.State) ([]proto.Message, error) { return call.Decide(st, cmd) })
}

// LoadAccounts reads the SIP accounts file: agent id -> password, or ->
// {"password": ..., "algorithms": ["SHA-256", "MD5"]} for a phone that
// answers SHA-256 digest (the others get the realm's default, MD5).
func LoadAccounts(path string) (map[string]sip.Account, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sip accounts: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("sip accounts %s: %w", path, err)
	}
	accounts := make(map[string]sip.Account, len(raw))
	for user, v := range raw {
		var a sip.Account
		if err := json.Unmarshal(v, &a.Password); err != nil {
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.DisallowUnknownFields() // a misspelt "algorithms" must not fall back silently
			if err := dec.Decode(&a); err != nil {
				return nil, fmt.Errorf("sip accounts %s: account %q: want a password or {\"password\", \"algorithms\"}: %w", path, user, err)
			}
		}
		if user == "" || a.Password == "" {
			return nil, fmt.Errorf("sip accounts %s: empty user or password", path)
		}
		if a.Algorithms != nil {
			algs, err := sip.ParseAlgorithms(strings.Join(a.Algorithms, ","))
			if err != nil {
				return nil, fmt.Errorf("sip accounts %s: account %q: %w", path, user, err)
			}
			a.Algorithms = algs
		}
		accounts[user] = a
	}
	return accounts, nil
}
