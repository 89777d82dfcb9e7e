// Package agentsession owns the agent's side: login and states per channel
// (stream agent-<id>), the interaction as the agent handles it (stream
// agent-interaction-<id>), the agent commands, and the push stream (SSE) the
// desktop listens to. It must not import another service.
//
// Any replica serves any agent (issue 10): each folds agent-session's
// streams through its one store subscription into the view, and fans that
// out in memory to the desktops connected to it (hub.go); the countdowns
// (auto-answer, the end of After Call Work) are times stored in the events
// and acted on from the view by every replica, each write idempotent.
package agentsession

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/callwindow"
	"github.com/ringback/ringback/libs/dialplan"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/inbox"
	"github.com/ringback/ringback/libs/readmodel"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/libs/sso"
	"github.com/ringback/ringback/libs/streams"
	"github.com/ringback/ringback/services/agent-session/agent"
	"github.com/ringback/ringback/services/agent-session/desktop"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// HandlerName is agent-session's consumer group; never renamed.
const HandlerName = "agent-session"

// Config of agent-session.
type Config struct {
	// StreamsPerAgent and StreamsPerAddress bound the open event streams
	// (issue 16); 0: no limit.
	StreamsPerAgent, StreamsPerAddress int

	AgentsFile    string     // the binary's --agents
	SSO           sso.Config // single sign-on (--oidc.…, issue 16), set by the binary
	AfterCallWork time.Duration
	// RequireDisposition: Done needs a disposition code first. The binary
	// sets it from --disposition.required, the one flag of that rule, which
	// the desktop shows too.
	RequireDisposition bool
	CommandWait        time.Duration
	// FactWait bounds how long a command waits for a fact another service
	// writes first (the interaction the router offered, the disposition
	// the agent just set) before refusing: the client is often ahead of
	// this replica's bus (issue 13). 0: DefaultFactWait.
	FactWait time.Duration
	// DialCountries and DialTypes are the numbers an agent may consult or
	// transfer to (libs/dialplan); emergency, premium-rate, shared-cost,
	// short and N11 numbers never.
	DialCountries, DialTypes string
	// PhoneHosts are where agents' phones may be (CIDRs and host names);
	// "" is dialplan.DefaultHosts: the center's own network.
	PhoneHosts string
	// CallingWindow per service, in the contact's local time: Call this
	// contact is refused outside it (callwindow.ParseServices).
	CallingWindow string
	// ServiceSet is the binary's --services file, loaded: the services'
	// calling windows (unless WindowGiven: the flag was set) and retry
	// policies. Nil: the flag's windows and the default retries.
	ServiceSet  *serviceconf.Set
	WindowGiven bool
	// SupervisorZone is where the supervisor page's "today" starts at
	// midnight (IANA name); "" is the host's local zone.
	SupervisorZone string
}

// RegisterFlags registers agent-session's flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.AfterCallWork, "agent-session.after-call-work", 0,
		"time in After Call Work after Done before the agent is Ready again (0: Ready at once); the end is stored with the state, so whichever replica runs then ends it, after a restart too")
	fs.IntVar(&c.StreamsPerAgent, "agent-session.streams-per-agent", 5,
		"most event streams (desktops, tabs) one agent may have open at once, 429 beyond; 0: no limit")
	fs.IntVar(&c.StreamsPerAddress, "agent-session.streams-per-address", 500,
		"most event streams open at once from one client address, 429 beyond; high enough for an office behind one NAT; 0: no limit")
	fs.DurationVar(&c.CommandWait, "agent-session.command-wait", 5*time.Second,
		"how long Accept and End Call wait for the router or the media gateway before answering 202")
	fs.DurationVar(&c.FactWait, "agent-session.fact-wait", DefaultFactWait,
		"how long a command waits for a fact another service writes first (an interaction just offered, a disposition just set) before answering 404 or 409")
	fs.StringVar(&c.SupervisorZone, "agent-session.supervisor-zone", "",
		"IANA time zone of the contact center's day on the supervisor page (\"completed today\", the schedule by hour), e.g. Europe/Paris; empty: the host's local zone (UTC in the shipped containers)")
	fs.StringVar(&c.DialCountries, "agent-session.dial-countries", "",
		"comma list of ISO region codes (US,GB) whose numbers agents may consult or transfer to; empty: every country. Emergency, premium-rate, shared-cost, short and N11 numbers never")
	fs.StringVar(&c.DialTypes, "agent-session.dial-types", "",
		"comma list of number types agents may consult or transfer to (fixed-line, mobile, fixed-line-or-mobile, toll-free, voip, personal-number, pager, uan, voicemail); empty: fixed-line, mobile, fixed-line-or-mobile, toll-free, voip")
	fs.StringVar(&c.PhoneHosts, "agent-session.phone-hosts", "",
		"comma list of CIDRs and host names (*.corp.example) where agents' phones (phone_uri) may be; empty: loopback, private and link-local addresses and single-label names, the center's own network")
	fs.StringVar(&c.CallingWindow, "agent-session.calling-window", "08:00-21:00",
		"calling window in the contact's local time (the browser's zone, else every zone of the number): Call this contact is refused outside it, "+
			`with the reason and the next opening. Same format as --scheduler.calling-window: "HH:MM-HH:MM", or "SERVICE=HH:MM-HH:MM" entries separated by ";". `+
			`"00:00-24:00" is always open: for tests and demos only`)
}

func (c *Config) supervisorZone() (*time.Location, error) {
	if c.SupervisorZone == "" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(c.SupervisorZone)
	if err != nil {
		return nil, fmt.Errorf("agent-session.supervisor-zone: %q is not an IANA time zone such as Europe/Paris", c.SupervisorZone)
	}
	return loc, nil
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if _, err := callwindow.ParseServices(c.CallingWindow); err != nil {
		return fmt.Errorf("agent-session.calling-window: %w", err)
	}
	if c.AfterCallWork < 0 || c.CommandWait <= 0 || c.FactWait < 0 {
		return errors.New("agent-session: after-call-work and fact-wait must be >= 0 and command-wait > 0")
	}
	if _, err := dialplan.Parse(c.DialCountries, c.DialTypes); err != nil {
		return fmt.Errorf("agent-session: %w", err)
	}
	if _, err := dialplan.ParseHosts(c.PhoneHosts); err != nil {
		return fmt.Errorf("agent-session: %w", err)
	}
	if _, err := c.supervisorZone(); err != nil {
		return err
	}
	return nil
}

// Deps are what agent-session is given: the skeleton's (libs/service),
// and what names a contact's key.
type Deps struct {
	service.Deps
	// ContactKeys names the key of a contact's personal data, so that the
	// Team Communicator forgets the numbers of contacts erased
	// (ContactErased names the key, not the number); nil when personal
	// data is not sealed, and so never erased.
	ContactKeys ContactKeys
}

// ContactKeys is libs/personal's Sealer as the directory needs it.
type ContactKeys interface {
	KeyID(number string) string
}

// supervisorPage is where the supervisor's page is served.
const supervisorPage = "/supervisor/"

// agentCacheSize bounds the agents whose streams stay folded in memory.
const agentCacheSize = 50000

// Service is agent-session.
type Service struct {
	agentCache *eventstore.Cache[agent.State]
	cfg        Config
	deps       Deps
	view       *view
	proj       *readmodel.Projection
	agents     *agentauth.Directory // nil: open, no authentication
	sso        *sso.Login           // nil: no single sign-on
	plan       dialplan.Plan        // numbers agents may consult or transfer to
	phoneHosts dialplan.Hosts       // where agents' phones may be
	windows    callwindow.Services  // calling windows in the contact's time
	// hub fans the read model's one subscription out to the desktops.
	hub          *hub
	streamBuffer int           // per desktop stream, see streamBuffer; tests shrink it
	catchUps     chan struct{} // held while a stream reads its gap from the store
	maxCatchUp   int           // maxCatchUpEvents; tests shrink it
	streams      streamCounts  // open event streams per agent and address
	sse          prometheus.Gauge
	// recent are the agents' recent numbers for the Team Communicator.
	recent *recentNumbers
	// super is the supervisors' board and its live feed (issue 14).
	super        *superFeed
	superStreams prometheus.Gauge
	resyncs      prometheus.Counter
	dueToConnect prometheus.Histogram
}

// New builds agent-session and registers its routes.
func New(cfg Config, deps Deps) (*Service, error) {
	agents, err := deps.Agents(cfg.AgentsFile)
	if err != nil {
		return nil, err
	}
	var login *sso.Login
	if cfg.SSO.Enabled() {
		// The desktop is served here, so its sign-in is too.
		if login, err = sso.New(cfg.SSO, agents, desktop.Prefix, deps.Log.With("component", "sso")); err != nil {
			return nil, fmt.Errorf("agent-session: %w", err)
		}
		login.Returns(supervisorPage) // its "Sign in with …" comes back to it
	}
	plan, err := dialplan.Parse(cfg.DialCountries, cfg.DialTypes)
	if err != nil {
		return nil, fmt.Errorf("agent-session: %w", err)
	}
	hosts, err := dialplan.ParseHosts(cfg.PhoneHosts)
	if err != nil {
		return nil, fmt.Errorf("agent-session: %w", err)
	}
	windows, err := callwindow.ParseServices(cfg.CallingWindow)
	if err != nil {
		return nil, fmt.Errorf("agent-session: calling window: %w", err)
	}
	if cfg.ServiceSet != nil && !cfg.WindowGiven {
		windows = callwindow.Services{"*": cfg.ServiceSet.Of(serviceconf.Any).Window}
		for _, name := range cfg.ServiceSet.Names() {
			windows[name] = cfg.ServiceSet.Of(name).Window
		}
	}
	s := &Service{cfg: cfg, deps: deps, view: newView(), agents: agents, plan: plan, phoneHosts: hosts, windows: windows,
		agentCache: eventstore.NewCache[agent.State](agentCacheSize), hub: newHub(), streamBuffer: streamBuffer,
		catchUps: make(chan struct{}, maxCatchUps), maxCatchUp: maxCatchUpEvents}
	s.sso = login
	s.recent = newRecentNumbers()
	zone, err := cfg.supervisorZone()
	if err != nil {
		return nil, err
	}
	s.super = newSuperFeed(zone, deps.Clock.Now)
	// One subscription feeds the desktops and the supervisors' board, which
	// folds intake's callbacks too (issue 14).
	// History's erasures too: the Team Communicator forgets erased numbers.
	s.proj = &readmodel.Projection{Prefixes: []string{streams.AgentSession, streams.AgentInteraction, streams.IntakeCallback,
		streams.HistoryErasure}, Apply: s.fold}
	s.sse = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ringback_agent_event_streams",
		Help: "Agent desktops connected to their event stream."})
	s.resyncs = prometheus.NewCounter(prometheus.CounterOpts{Name: "ringback_agent_event_stream_resyncs_total",
		Help: "Desktop event streams dropped by the fan-out for falling behind, then resynced from the store."})
	s.superStreams = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ringback_supervisor_event_streams",
		Help: "Supervisor pages connected to their live feed."})
	s.dueToConnect = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ringback_due_to_connect_seconds",
		Help: "Per connected call, from its callback's due time (the time it was scheduled for, else when it was queued) to the contact answering: what the contact waited past the promised time.",
		// 1s..~9h: seconds when agents are free, hours on a bad day.
		Buckets: prometheus.ExponentialBuckets(1, 2, 16)})
	if err := deps.Register("agent-session", s.sse, s.resyncs, s.superStreams, s.dueToConnect); err != nil {
		return nil, err
	}
	s.routes(deps.Mux)
	return s, nil
}

// Ready says whether the service's read model has caught up with the
// store, for /readyz: a replica serves only once its view is whole.
func (s *Service) Ready() error { return s.proj.Ready() }

// Run folds agent-session's streams (the one store subscription of the
// service: desktops are fed from it), consumes the bus and runs the
// auto-answer and after-call-work loops until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	defer s.hub.close()
	return s.deps.Run(ctx, s.proj, inbox.Config{Name: HandlerName, Topics: Topics, Only: Only}, s.handle, s.super.run, s.autoAnswer, s.afterCallWorkLoop)
}

var (
	agents       = eventstore.Aggregate[agent.State]{Evolve: agent.Evolve}
	interactions = eventstore.Aggregate[interaction.State]{Evolve: interaction.Evolve}
)

func (s *Service) onAgent(ctx context.Context, id string, cause eventstore.Cause, cmd agent.Command) (eventstore.Outcome[agent.State], error) {
	// Through the cache: an agent's stream grows with every call of every day.
	return eventstore.ExecuteCached(ctx, s.deps.Store, s.agentCache, agent.Stream(id), agents, cause,
		func(st agent.State) ([]proto.Message, error) { return agent.Decide(st, cmd) })
}
