package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/bus"
	"github.com/ringback/ringback/libs/bus/inproc"
	"github.com/ringback/ringback/libs/bus/kafka"
	"github.com/ringback/ringback/libs/clock"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
	"github.com/ringback/ringback/libs/eventstore/esdb"
	"github.com/ringback/ringback/libs/eventstore/postgres"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/libs/inbox"
	"github.com/ringback/ringback/libs/leader"
	"github.com/ringback/ringback/libs/lifecycle"
	"github.com/ringback/ringback/libs/personal"
	"github.com/ringback/ringback/libs/relay"
	"github.com/ringback/ringback/libs/selflink"
	"github.com/ringback/ringback/libs/streams"
	"github.com/ringback/ringback/libs/telemetry"
	historyindex "github.com/ringback/ringback/services/history/index"
	intakecontact "github.com/ringback/ringback/services/intake/contact"
)

// App is one process: the shared parts every target is built from.
type App struct {
	Config      *Config
	Clock       clock.Clock
	Log         *slog.Logger
	Registry    *prometheus.Registry
	Mux         *http.ServeMux
	Store       eventstore.Store
	Publisher   message.Publisher
	Subscribers inbox.Subscribers
	// Sealer seals contacts' personal data (issue 16 point 9); nil when
	// --personal.keys is off.
	Sealer *personal.Sealer
	// callbackIDKey keys the callback ids intake derives from an
	// Idempotency-Key (issue 16 point 4), from the operator's secret; nil
	// without one.
	callbackIDKey []byte
	// linkKey signs intake's self-service links, derived from the same
	// secret (nil without one).
	linkKey *selflink.Key

	raw        eventstore.Store // the store under the sealing one, which the relay reads
	tel        *telemetry.Telemetry
	subscribed atomic.Int64 // topic subscriptions made, for the single-node relay barrier
	ready      atomic.Bool
	instance   string                      // this process, as a lease holder
	relay      atomic.Pointer[relay.Relay] // while this process's relay publishes
	readiness  []namedCheck                // read models caught up
	expected   int                         // topic subscriptions the targets make
	joinMu     sync.Mutex
	joiners    []joiner   // Kafka subscribers, joined to their groups or not
	probes     probeCache // store and bus reachable
	closers    []func() error
	agents     *agentauth.Directory // who may call what (issue 16); nil: open platform
	tables     []agentauth.Route    // every route of the targets, for GET /admin/routes
	// listener, when set before run, is the HTTP listener, bound already
	// at --http (tests bind it first, so that no other process's listener
	// takes the port meanwhile and answers their requests in its place).
	listener net.Listener
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parse(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.ListTargets {
		for _, n := range serviceNames() {
			fmt.Fprintln(stdout, n)
		}
		return nil
	}
	ts, err := resolve(cfg.Targets)
	if err != nil {
		return err
	}
	if err := cfg.Validate(ts); err != nil {
		return err
	}
	cfg.applyGC()
	a, err := newApp(ctx, cfg, ts, stdout)
	if err != nil {
		return err
	}
	defer a.close()
	return a.run(ctx, ts)
}

func newApp(ctx context.Context, cfg *Config, ts []target, stdout io.Writer) (*App, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, &usageError{fmt.Sprintf("--log-level: %v", err)}
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	tel, err := telemetry.New(ctx, telemetry.Config{Service: "ringback/" + strings.Join(names, ","),
		OTLPEndpoint: os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), LogLevel: level, LogOutput: stdout})
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Clock: clock.Real{}, Log: tel.Log, Registry: tel.Registry, Mux: http.NewServeMux(), tel: tel,
		instance: instanceName()}
	// Readiness as a metric, so an alert sees a replica that answers
	// scrapes but not traffic (a read model behind, the broker gone).
	if err := a.Registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ringback_ready",
		Help: "1 while this process answers /readyz 200 (it can serve), 0 while it starts, stops, or cannot reach what it needs."},
		func() float64 {
			if a.notReady(context.Background()) != nil {
				return 0
			}
			return 1
		})); err != nil {
		return nil, fmt.Errorf("readiness metric: %w", err)
	}
	a.closers = append(a.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return tel.Shutdown(ctx)
	})
	if err := a.openStore(ctx); err != nil {
		a.close()
		return nil, err
	}
	if err := a.openBus(); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

func (a *App) openStore(ctx context.Context) error {
	switch a.Config.storeKind() {
	case "postgres":
		st, err := postgres.Open(ctx, a.Config.EventStore, postgres.WithLogger(a.Log.With("component", "eventstore")))
		if err != nil {
			return fmt.Errorf("postgresql: %w", err)
		}
		a.Store = st
	case "esdb":
		st, err := esdb.New(ctx, strings.Replace(a.Config.EventStore, "kurrentdb", "esdb", 1))
		if err != nil {
			return fmt.Errorf("eventstoredb: %w", err)
		}
		a.Store = st
	default:
		if err := os.MkdirAll(a.Config.Data, 0o755); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		opts := []embedded.Option{embedded.WithLogger(a.Log)}
		if a.Registry != nil { // nil: a command (replay) that opens the store for a moment
			opts = append(opts, embedded.WithMetrics(a.Registry, streams.All))
		}
		st, err := embedded.Open(filepath.Join(a.Config.Data, "store"), opts...)
		if err != nil {
			return fmt.Errorf("embedded store: %w", err)
		}
		a.Store = st
	}
	a.closers = append(a.closers, a.Store.Close)
	return a.openPersonal(ctx)
}

func (a *App) openBus() error {
	wlog := bus.Slog(a.Log.With("component", "bus"))
	var subs inbox.Subscribers
	switch a.Config.Bus {
	case "inproc":
		b := inproc.New(wlog)
		a.Publisher = b
		subs = func(group string) (message.Subscriber, error) { return b.Subscriber(group), nil }
		a.closers = append(a.closers, b.Close)
	case "kafka":
		pubCfg, subCfg, err := a.Config.Kafka.configs(brokerList(a.Config.KafkaBrokers))
		if err != nil {
			return err
		}
		pub, err := kafka.NewPublisher(pubCfg, wlog)
		if err != nil {
			return fmt.Errorf("kafka publisher: %w", err)
		}
		a.Publisher = pub
		a.closers = append(a.closers, pub.Close)
		subCfg.Registerer = a.Registry
		subs = func(group string) (message.Subscriber, error) {
			cfg := subCfg
			cfg.ConsumerGroup = group
			return kafka.NewSubscriber(cfg, wlog)
		}
	}
	a.Subscribers = func(group string) (message.Subscriber, error) {
		s, err := subs(group)
		if err != nil {
			return nil, err
		}
		if j, ok := s.(joiner); ok {
			a.joinMu.Lock()
			a.joiners = append(a.joiners, j)
			a.joinMu.Unlock()
		}
		c := countingSubscriber{Subscriber: s, n: &a.subscribed, poison: a.Publisher, metrics: a.Registry}
		if a.Sealer != nil {
			// Messages come sealed; inbox opens the ones a consumer reads.
			c.open = a.Sealer.OpenMessage
			// What is set aside goes to the poison topic sealed again.
			c.poison = personal.Publisher{Publisher: a.Publisher, Sealer: a.Sealer}
		}
		return c, nil
	}
	return nil
}

// countingSubscriber counts subscriptions so that single node starts its
// relay only once every service listens: the in-process bus keeps nothing
// for a group that has not subscribed yet.
type countingSubscriber struct {
	message.Subscriber
	n       *atomic.Int64
	poison  message.Publisher
	metrics prometheus.Registerer
	open    func(*message.Message) error // nil: the payloads are plain
}

// LeaveOut passes a consumer's Only to the bus when it can leave messages
// out before delivery (inbox.Leaver: the in-process bus); elsewhere the
// router leaves them out.
func (c countingSubscriber) LeaveOut(topic string, leave func(eventType string) bool) error {
	if l, ok := c.Subscriber.(inbox.Leaver); ok {
		return l.LeaveOut(topic, leave)
	}
	return nil
}

// Open opens a message's personal data (inbox.Opener).
func (c countingSubscriber) Open(m *message.Message) error {
	if c.open == nil {
		return nil
	}
	return c.open(m)
}

// PoisonPublisher sends what no handler could apply to ringback.poison.
func (c countingSubscriber) PoisonPublisher() message.Publisher { return c.poison }

// MetricsRegisterer is where handler latency, retries and poison counts go.
func (c countingSubscriber) MetricsRegisterer() prometheus.Registerer { return c.metrics }

func (c countingSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	ch, err := c.Subscriber.Subscribe(ctx, topic)
	if err == nil {
		c.n.Add(1)
	}
	return ch, err
}

func (a *App) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			a.Log.Warn("close", "err", err)
		}
	}
}

// run inits every target (fallible work, listeners bound), runs them, and
// on a signal or the first failure stops them in reverse order.
func (a *App) run(ctx context.Context, ts []target) error {
	type started struct {
		name string
		r    Runner
	}
	var runners []started
	expected := 0
	var prefixes, names []string
	for _, t := range ts {
		prefixes = append(prefixes, t.Prefix)
		names = append(names, t.Name)
		r, err := t.Init(a)
		if err != nil {
			return fmt.Errorf("init %s: %w", t.Name, err)
		}
		runners = append(runners, started{t.Name, r})
		if rt, ok := r.(interface{ Routes() []agentauth.Route }); ok {
			a.tables = append(a.tables, rt.Routes()...)
		}
		if rd, ok := r.(interface{ Ready() error }); ok {
			a.readiness = append(a.readiness, namedCheck{t.Name, rd.Ready})
		}
		expected += len(t.Topics)
	}
	if a.Config.Demo {
		d, err := newDemo(a)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		runners = append(runners, started{"demo", d})
	}
	a.expected = expected
	if err := a.routes(); err != nil {
		return err
	}
	// Before the listener: a failure once it listens must close it, or a
	// client would wait on it forever.
	relayMetrics, err := relay.NewMetrics(a.Registry)
	if err != nil {
		return err
	}
	ln := a.listener
	if ln == nil {
		if ln, err = net.Listen("tcp", a.Config.HTTP); err != nil {
			return fmt.Errorf("http listen: %w", err)
		}
	}
	// Every request starts (or continues, from its traceparent) a trace that
	// the events it causes carry on through the bus.
	// Span names carry the method only: paths hold phone numbers.
	// The mux's own 404 and 405 are problem+json like every error (issue 16).
	handler := telemetry.HTTPServer(httpx.Problems(a.Mux, a.Log), a.tel.Tracer)
	lim := a.Config.HTTPLimits
	// Limits on every connection (issue 16): ReadTimeout is the deadline of
	// a slow body too. Go answers an oversize header block (431) and a
	// malformed request (400) itself, in text/plain, before any handler:
	// net/http has no hook for those.
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: lim.ReadHeaderTimeout, ReadTimeout: lim.ReadTimeout,
		WriteTimeout: lim.WriteTimeout, IdleTimeout: lim.IdleTimeout, MaxHeaderBytes: lim.MaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(a.Log.Handler(), slog.LevelDebug)}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	ctxs := make([]context.CancelFunc, len(runners))
	for i, s := range runners {
		rctx, rcancel := context.WithCancel(context.Background())
		ctxs[i] = rcancel
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.r.Run(rctx); err != nil && rctx.Err() == nil {
				cancel(fmt.Errorf("%s: %w", s.name, err))
			}
		}()
	}
	// The relay's metrics (made above) exist from the start, whether or
	// not this replica leads its relay, so the dashboards and alerts have
	// their series as soon as /readyz says ready.
	relayCtx, relayCancel := context.WithCancel(context.Background())
	relayDone := make(chan struct{})
	go func() {
		defer close(relayDone)
		if err := a.runRelay(relayCtx, ctx, relayMetrics, expected, names, prefixes); err != nil && relayCtx.Err() == nil {
			cancel(fmt.Errorf("relay: %w", err))
		}
	}()
	httpDone := make(chan struct{})
	go func() {
		defer close(httpDone)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cancel(fmt.Errorf("http: %w", err))
		}
	}()
	a.ready.Store(true)
	a.Log.Info("ringback started", "http", ln.Addr().String(), "targets", len(ts), "bus", a.Config.Bus, "demo", a.Config.Demo)

	<-ctx.Done()
	a.ready.Store(false) // /readyz answers 503 while we stop
	cause := context.Cause(ctx)
	// The services stop first, while HTTP still answers (/readyz 503,
	// /metrics, and the gateway's drain, which can last minutes); then the
	// relay publishes what they wrote while stopping; HTTP goes last.
	for i := len(ctxs) - 1; i >= 0; i-- {
		ctxs[i]()
	}
	wg.Wait()
	a.drainRelay()
	relayCancel()
	<-relayDone
	shutdown, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	_ = srv.Shutdown(shutdown)
	<-httpDone
	if cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	a.Log.Info("ringback stopped")
	return nil
}

// runRelay starts the outbox once the consumers listen (in process), then
// publishes until ctx is done.
func (a *App) runRelay(ctx, appCtx context.Context, m *relay.Metrics, expected int, names, prefixes []string) error {
	if a.Config.Bus == "inproc" {
		deadline := time.Now().Add(30 * time.Second)
		for a.subscribed.Load() < int64(expected) {
			if time.Now().After(deadline) {
				return fmt.Errorf("only %d of %d subscriptions after 30s", a.subscribed.Load(), expected)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-appCtx.Done():
				return nil
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	cp, ok := a.Store.(eventstore.Checkpoints)
	if !ok {
		return fmt.Errorf("the %T store keeps no checkpoints", a.Store)
	}
	// One checkpoint per set of streams relayed: the replicas of a service
	// share it, and a new pod resumes where the last one stopped.
	r := relay.New(a.relayStore(), a.Publisher, relay.InStore(cp, "relay-"+strings.Join(names, ".")), a.Log.With("component", "relay"))
	r.Metrics = m
	r.Streams = func(stream string) bool { return relayed(stream, prefixes) }
	leases, ok := a.Store.(eventstore.Leases)
	if !ok {
		return fmt.Errorf("the %T store grants no leases", a.Store)
	}
	// One replica of a service publishes its streams at a time: the others
	// stand by, so an event goes on the bus once, not once per replica. A
	// relay that failed (the store or the bus not answering) has released
	// the lease; this replica contends again after a pause rather than
	// exiting, as every replica that led did when the store stalled in CI.
	log := a.Log.With("component", "relay")
	lead := func(ctx context.Context) error {
		return leader.Run(ctx, leader.Config{Leases: leases, Name: "relay-" + strings.Join(names, "."), Holder: a.instance,
			TTL: relayLeaseTTL, Log: log,
			OnChange: func(leading bool, _ eventstore.Lease) {
				if leading {
					a.relay.Store(r)
				} else {
					a.relay.Store(nil)
				}
			}}, r.Run)
	}
	return lifecycle.Restarting(log, "relay", lead)(ctx)
}

// unpublished are streams a service keeps for itself: intake's claims of
// numbers and history's lookup indexes, named by an HMAC of the number whose
// key is in the store. No other service reads them, and on the bus the key
// would make the names reversible.
var unpublished = []string{intakecontact.StreamPrefix, historyindex.InteractionPrefix, historyindex.ContactPrefix}

// relayed says whether the relay of the services writing prefixes
// publishes stream (ringback replay publishes the same).
func relayed(stream string, prefixes []string) bool {
	for _, p := range unpublished {
		if strings.HasPrefix(stream, p) {
			return false
		}
	}
	for _, p := range prefixes {
		if strings.HasPrefix(stream, p) {
			return true
		}
	}
	return false
}

// relayLeaseTTL is how long a dead replica's relay holds back another's:
// events wait at most this long for the bus after a kill -9.
const relayLeaseTTL = 3 * time.Second

// drainRelay lets the relay, if this process's is the one publishing,
// publish what the services wrote while they stopped (a draining gateway's
// last events), for a few seconds at most.
func (a *App) drainRelay() {
	r := a.relay.Load()
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	head, err := a.Store.(eventstore.HeadReader).Head(ctx)
	if err != nil {
		a.Log.Warn("relay drain: head of the store", "err", err)
		return
	}
	for !r.CaughtUp(head) {
		select {
		case <-ctx.Done():
			a.Log.Warn("relay drain: not caught up within 5s; the next relay publishes the rest")
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// readyz answers 200 once every part of this process can serve.
func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	if err := a.notReady(r.Context()); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}

// notReady says why this process cannot serve, or nil: what /readyz and
// the ringback_ready gauge report.
func (a *App) notReady(ctx context.Context) error {
	if !a.ready.Load() {
		return errors.New("starting or stopping")
	}
	for _, c := range a.readiness {
		if err := c.check(); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	if err := a.consuming(); err != nil {
		return err
	}
	return a.probes.check(ctx, a.reachable)
}

// instanceName names this process as a lease holder: the host (the pod's
// name on Kubernetes) and a random suffix, since two processes may share a
// host.
func instanceName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "ringback"
	}
	return host + "-" + uuid.NewString()[:8]
}
