package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/libs/sso"
	agentsession "github.com/ringback/ringback/services/agent-session"
	"github.com/ringback/ringback/services/disposition"
	"github.com/ringback/ringback/services/history"
	"github.com/ringback/ringback/services/intake"
	mediagateway "github.com/ringback/ringback/services/media-gateway"
	"github.com/ringback/ringback/services/router"
	"github.com/ringback/ringback/services/scheduler"
)

// Config is everything `ringback serve` is told. Every flag can also be set
// in the environment as RINGBACK_<FLAG>, upper case, with - and . as _
// (--sip-trunk: RINGBACK_SIP_TRUNK); a flag on the command line wins.
type Config struct {
	Targets      string
	HTTP         string
	OpsHTTP      string     // --ops-http: /metrics and /admin/… on their own listener (issue 16)
	HTTPLimits   HTTPLimits // the --http-… limits of every connection (issue 16)
	SIP          string
	SIPTrunk     string
	Data         string
	Bus          string
	KafkaBrokers string
	Kafka        KafkaConfig // the other --kafka-… flags
	EventStore   string
	// AllowEmbeddedWithKafka accepts a topology that loses data: each
	// process on its own embedded store, joined by Kafka.
	AllowEmbeddedWithKafka bool
	Demo                   bool
	Agents                 string
	OIDC                   sso.Config // --oidc.…: agents sign in with OpenID Connect (issue 16)
	Services               string
	ListTargets            bool
	LogLevel               string
	// DebugPprof: where Go's profiles are served (pprof.go); empty: nowhere.
	DebugPprof string
	// GCPercent is the collector's GOGC (gc.go); gcFromEnv: the
	// environment's GOGC stands, as neither the flag nor its
	// RINGBACK_GC_PERCENT was given.
	GCPercent int
	gcFromEnv bool

	Personal personalConfig

	Intake       intake.Config
	Scheduler    scheduler.Config
	Router       router.Config
	AgentSession agentsession.Config
	Media        mediagateway.Config
	History      history.Config
	Disposition  disposition.Config
}

// RegisterFlags registers every flag of serve.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Targets, "target", "all", "comma-separated services to run: all, or any of "+strings.Join(serviceNames(), ", "))
	fs.StringVar(&c.HTTP, "http", "127.0.0.1:8080", "HTTP listen address: the API, /agent/, /metrics, /healthz, /readyz")
	fs.StringVar(&c.OpsHTTP, "ops-http", "", "listen address of the operator's routes (/metrics, /admin/routes) without a token, for a network only Prometheus and operators reach; empty: they are on --http, behind an operator's token once --agents is set")
	c.HTTPLimits.RegisterFlags(fs)
	c.OIDC.RegisterFlags(fs)
	fs.StringVar(&c.SIP, "sip", "127.0.0.1:5060", "SIP listen address of the media gateway (UDP)")
	fs.StringVar(&c.SIPTrunk, "sip-trunk", "127.0.0.1:5080", "host:port of the SIP trunk; contacts are dialled as sip:<E.164>@host:port")
	fs.StringVar(&c.Data, "data", "data", "directory of the embedded event store, relay checkpoint and recordings")
	fs.StringVar(&c.Bus, "bus", "inproc", "event bus: inproc (one process) or kafka")
	fs.StringVar(&c.KafkaBrokers, "kafka-brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap brokers, with --bus=kafka")
	c.Kafka.RegisterFlags(fs)
	fs.StringVar(&c.EventStore, "eventstore", "", "the shared event store: postgres://user:pass@host/db (PostgreSQL) or esdb://host:2113 / kurrentdb://host:2113 (KurrentDB/EventStoreDB); empty: the embedded store in --data, for one process")
	fs.BoolVar(&c.AllowEmbeddedWithKafka, "allow-embedded-with-kafka", false, "accept --bus=kafka on the embedded store, each process with its own store on its own disk: a one-machine trial only, since replicas do not share one truth and a lost disk loses its events")
	fs.BoolVar(&c.Demo, "demo", false, "start a demo SIP trunk and phones on --sip-trunk, and log in demo agents, so a callback goes through with nothing else installed")
	fs.StringVar(&c.Agents, "agents", "", "JSON file of the agents (bearer tokens, skills, auto-answer; format in libs/agentauth); empty: agent routes are not authenticated, for development and --demo only")
	fs.StringVar(&c.Services, "services", "", "YAML or JSON file of the services (docs/services.md, sample deploy/samples/services.yaml): "+
		"skills and priority, office hours with holidays, calling window, capacity, time to live, retries; it replaces "+
		"--router.services, --router.service-offer-timeouts and --scheduler.office-hours. Empty: every service on the "+
		"defaults (calling window 08:00-21:00, time to live 3d, busy/no answer/failed retried by the scheduler)")
	fs.BoolVar(&c.ListTargets, "list-targets", false, "print the targets and exit")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.DebugPprof, "debug-pprof", "", "listen address of Go's profiles (/debug/pprof/), unauthenticated and showing what the process holds: loopback only, for profiling; empty: off")
	fs.IntVar(&c.GCPercent, "gc-percent", defaultGCPercent, "the Go collector's GOGC: how far (percent of the live heap) the heap grows before a collection. Above Go's 100 it spends memory to save CPU (gc.go); a GOMEMLIMIT still bounds the heap. 10-1000; the GOGC environment variable, when set, wins over the default")
	c.Personal.RegisterFlags(fs)
	c.Intake.RegisterFlags(fs)
	c.Scheduler.RegisterFlags(fs)
	c.Router.RegisterFlags(fs)
	c.AgentSession.RegisterFlags(fs)
	c.Media.RegisterFlags(fs)
	c.History.RegisterFlags(fs)
	c.Disposition.RegisterFlags(fs)
	for old, repl := range replacedFlags {
		fs.Func(old, "replaced by --"+repl, func(string) error { return fmt.Errorf("replaced by --%s", repl) })
	}
}

// envName is the environment variable of a flag.
func envName(flagName string) string {
	return "RINGBACK_" + strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(flagName))
}

// replacedFlags were renamed or merged into another: given, on the command
// line or in the environment, they are refused naming the one to use.
var replacedFlags = map[string]string{
	// One rule, one flag (issue 13): the desktop showed one, Done enforced the other.
	"agent-session.require-disposition": "disposition.required",
}

// parse reads flags, then the environment for the flags not given.
func parse(args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("ringback serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &Config{}
	c.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && !given[f.Name] && err == nil {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = &usageError{fmt.Sprintf("%s: %v", envName(f.Name), serr)}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if c.Demo && !given["media.drain-grace"] && getenv(envName("media.drain-grace")) == "" {
		// A newcomer's Ctrl-C should stop the demo in seconds; its calls
		// are not worth the production grace of minutes.
		c.Media.DrainGrace = 5 * time.Second
	}
	if c.Demo {
		// A newcomer tries the demo at any hour: its phones are no real
		// contacts, so the calling window is open around the clock unless
		// set (the demo logs it).
		for _, f := range []string{"scheduler.calling-window", "agent-session.calling-window"} {
			if !given[f] && getenv(envName(f)) == "" {
				_ = fs.Set(f, "00:00-24:00")
			}
		}
		// The demo's one visitor is its newcomer on localhost, trying the
		// walkthrough's number again and again: the rate limits per address
		// and per number (issue 12) would refuse them within minutes. The
		// cap of open callbacks per number stays.
		for _, f := range []string{"intake.rate-address", "intake.rate-number"} {
			if !given[f] && getenv(envName(f)) == "" {
				_ = fs.Set(f, "off")
			}
		}
		// The demo's service is "support": named, so that intake refuses
		// any other name (issue 12) on the platform a newcomer tries
		// first, as it does on one configured with --services.
		if c.Services == "" && !given["router.services"] && getenv(envName("router.services")) == "" {
			_ = fs.Set("router.services", "support=priority:0")
		}
	}
	// A calling window given (or set by --demo) overrides the services
	// file's for every service.
	for _, w := range []struct {
		flag  string
		given *bool
	}{{"scheduler.calling-window", &c.Scheduler.WindowGiven}, {"agent-session.calling-window", &c.AgentSession.WindowGiven}} {
		*w.given = given[w.flag] || getenv(envName(w.flag)) != "" || c.Demo
	}
	c.gcFromEnv = getenv("GOGC") != "" && !given["gc-percent"] && getenv(envName("gc-percent")) == ""
	c.Media.Listen, c.Media.Trunk = c.SIP, c.SIPTrunk
	c.AgentSession.RequireDisposition = c.Disposition.Required
	c.AgentSession.SSO = c.OIDC
	c.AgentSession.AgentsFile, c.History.AgentsFile, c.Disposition.AgentsFile = c.Agents, c.Agents, c.Agents
	c.Media.AgentsFile = c.Agents
	c.Media.Recordings = filepath.Join(c.Data, "recordings")
	return c, nil
}

// storeKind is what --eventstore names.
func (c *Config) storeKind() string {
	switch u := c.EventStore; {
	case u == "":
		return "embedded"
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		return "postgres"
	case strings.HasPrefix(u, "esdb://"), strings.HasPrefix(u, "esdb+discover://"),
		strings.HasPrefix(u, "kurrentdb://"), strings.HasPrefix(u, "kurrentdb+discover://"):
		return "esdb"
	}
	return ""
}

// validateStore refuses the topologies that lose data: several processes
// joined by Kafka, each with an embedded store on its own (pod's) disk.
// Replicas then disagree, and a rescheduled pod loses its events for good.
func (c *Config) validateStore() error {
	switch c.storeKind() {
	case "":
		return &usageError{"--eventstore: want a postgres://, esdb:// or kurrentdb:// URL, or nothing for the embedded store"}
	case "embedded":
		if c.Bus == "kafka" && !c.AllowEmbeddedWithKafka {
			return &usageError{"--bus=kafka with the embedded store: every process would keep its own store on its own disk, " +
				"so replicas would not share one truth and a pod that moves would lose its events. " +
				"Give every process one shared store with --eventstore=postgres://… or --eventstore=esdb://…; " +
				"for a trial on one machine only, pass --allow-embedded-with-kafka"}
		}
	}
	return nil
}

// Validate checks what does not depend on the targets.
func (c *Config) Validate(targets []target) error {
	addrs := map[string]string{"http": c.HTTP, "sip": c.SIP, "sip-trunk": c.SIPTrunk}
	if c.OpsHTTP != "" {
		addrs["ops-http"] = c.OpsHTTP
	}
	for name, addr := range addrs {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return &usageError{fmt.Sprintf("--%s: %q is not host:port", name, addr)}
		}
	}
	if c.Bus != "inproc" && c.Bus != "kafka" {
		return &usageError{fmt.Sprintf("--bus: %q is neither inproc nor kafka", c.Bus)}
	}
	if err := c.HTTPLimits.Validate(); err != nil {
		return &usageError{err.Error()}
	}
	if err := c.validateGC(); err != nil {
		return &usageError{err.Error()}
	}
	if err := c.OIDC.Validate(); err != nil {
		return &usageError{err.Error()}
	}
	if c.OIDC.Enabled() && c.Agents == "" {
		// Sessions are signed with the agents file's session key, and an
		// open platform would make signing in pointless.
		return &usageError{"--oidc.issuer needs --agents, with a session_key_file in it"}
	}
	if c.Bus == "inproc" && !isAll(targets) {
		return &usageError{"--bus=inproc joins services of one process only: run all of them (--target=all) or use --bus=kafka"}
	}
	if c.Data == "" {
		return &usageError{"--data must name a directory"}
	}
	if err := c.validateStore(); err != nil {
		return err
	}
	if err := c.Personal.Validate(c.storeKind()); err != nil {
		return err
	}
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	c.Data = filepath.Clean(c.Data)
	set, err := serviceconf.Load(c.Services)
	if err != nil {
		return &usageError{"--services: " + err.Error()}
	}
	c.Scheduler.ServiceSet, c.Router.ServiceSet, c.AgentSession.ServiceSet = set, set, set
	c.Intake.ServiceSet = set // a full or closed slot is refused at the door (issue 11)
	c.Media.ServiceSet = set  // whether the agent may leave a conference (issue 15)
	// Without a file, intake admits the services --router.services names
	// (issue 12: a made-up name per request made a queue per request).
	c.Intake.Services = slices.Sorted(maps.Keys(c.Router.Services))
	for _, v := range []interface{ Validate() error }{&c.Intake, &c.Scheduler, &c.Router, &c.AgentSession, &c.Media, &c.History, &c.Disposition} {
		if err := v.Validate(); err != nil {
			return &usageError{err.Error()}
		}
	}
	return nil
}

// HTTPLimits bound what one connection may hold of the server (issue 16):
// a client that sends slowly, or not at all, or keeps a connection idle,
// is cut off. The desktop's event stream alone is exempt from the read
// and write timeouts (it clears its deadlines); its count is bounded by
// --agent-session.… flags instead.
type HTTPLimits struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
}

// RegisterFlags registers the --http-… limits.
func (l *HTTPLimits) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&l.ReadHeaderTimeout, "http-read-header-timeout", 10*time.Second,
		"time a client has to send a request's headers; a browser sends them at once, so 10s only spares slow networks")
	fs.DurationVar(&l.ReadTimeout, "http-read-timeout", 30*time.Second,
		"time a client has to send a whole request, body included: a body sent slowly is cut off then; our bodies are a few kB, so 30s spares any real client")
	fs.DurationVar(&l.WriteTimeout, "http-write-timeout", 60*time.Second,
		"time from the end of a request's headers to the end of its answer; above the longest wait of a route (the disposition's wait for an accept), not applied to event streams")
	fs.DurationVar(&l.IdleTimeout, "http-idle-timeout", 60*time.Second,
		"time an idle keep-alive connection is kept; 60s outlasts a desktop's pauses between requests without holding thousands of idle sockets")
	fs.IntVar(&l.MaxHeaderBytes, "http-max-header-bytes", 64<<10,
		"largest request header block in bytes (431 beyond); 64 KiB holds any bearer token and cookie")
}

// Validate refuses limits that would cut every request off.
func (l HTTPLimits) Validate() error {
	if l.ReadHeaderTimeout <= 0 || l.ReadTimeout <= 0 || l.WriteTimeout <= 0 || l.IdleTimeout <= 0 {
		return errors.New("--http-…-timeout must be positive")
	}
	if l.MaxHeaderBytes < 4<<10 {
		return errors.New("--http-max-header-bytes must be at least 4096")
	}
	return nil
}
