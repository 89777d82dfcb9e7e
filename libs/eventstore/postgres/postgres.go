// Package postgres is the eventstore adapter for PostgreSQL (15 or later), the
// shared store of a distributed deployment when KurrentDB is not used, on
// pgx and its pool.
//
// It owns its schema, "eventstore" (created on Open, see schema.go): the
// events, one row per stream holding its last revision, the checkpoints and
// leases of eventstore.Checkpoints and Leases, and the append function.
// Nothing else should write those tables.
//
// Appends. Committer goroutines take the Appends waiting at a moment and run
// them as one call of the append function: one transaction, one round trip,
// one WAL flush for all (group commit, DESIGN.md section 3), while each append
// still decides alone against its stream, so a conflict fails that append
// only. Writers of a stream queue on the stream's row lock and nowhere else;
// a batch takes its streams' locks in name order, in every process, so two
// batches never deadlock. Event ids are unique per stream; a retried append
// is recognised by its ids exactly as the embedded store does it.
//
// Global order. Positions are {Commit: the writing transaction's id (xid8),
// Prepare: the event's row id}, ordered by (tx, id). Row ids come from a
// sequence and transaction ids are handed out at the first write, neither at
// commit, so transactions commit out of that order; a subscriber that read
// "everything after the last position" would skip for ever an event that
// commits after a later one was read (DESIGN.md section 3). Subscribers
// therefore read only rows whose transaction id is below the horizon
// pg_snapshot_xmin(pg_current_snapshot()): every transaction below it has
// ended, so no row can appear there any more (the approach of
// eugene-khyst/postgresql-event-sourcing). The cost: ANY transaction of the
// cluster that holds a transaction id (a write, in any database, or a
// prepared transaction) holds every subscriber back until it ends. Keep
// transactions short on the cluster that hosts the store; a session left
// "idle in transaction" after a write stops delivery until it ends.
//
// Wake-ups. Subscribers sleep until an append of this Store, a notification
// on channel "eventstore" (LISTEN on one dedicated connection per Store,
// opened by the first subscription) or the fallback poll. The notification is
// sent right after the append's commit, not inside its transaction: NOTIFY
// takes a cluster-wide lock that is held across the commit's WAL flush, which
// turns concurrent commits into one flush each (pgbench on a 2-CPU machine:
// single-row INSERTs with NOTIFY, 3,774 commits/s from one client and 3,358
// from 64; without it, 4,937 and 21,018). A notification is only a hint: one
// lost to a crash between commit and notify, or to a listener reconnecting,
// costs a poll interval. When a read finds committed events held back by the
// horizon, the subscriber reads again soon, with backoff, so an event behind
// a foreign transaction arrives shortly after that transaction ends, with no
// notification needed.
//
// Leases expire by the server's clock. A fenced append (eventstore.WithFence)
// checks its lease's generation in its own transaction, holding the lease's
// row until the commit, so unlike on KurrentDB the check is atomic.
//
// It implements eventstore.Store, Checkpoints, HeadReader and Leases, and
// must not import another adapter or a service.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ringback/ringback/libs/eventstore"
)

// Defaults, each overridable by an Option.
const (
	// defaultMaxConns bounds the pool. Appends of different streams commit
	// concurrently only as far as they have connections; more than a few
	// dozen mostly queue inside the server instead.
	defaultMaxConns = 16
	// defaultPoll is the fallback poll of an idle subscription: the latency
	// of an event whose wake-up was lost.
	defaultPoll = 500 * time.Millisecond
	// defaultConnectTimeout makes an unreachable server fail Open within
	// seconds rather than at the TCP stack's pleasure, unless the URL sets
	// connect_timeout.
	defaultConnectTimeout = 10 * time.Second
	// cancelDeadline is how long a cancelled call waits for the server to
	// honour the cancel request before its connection is dropped.
	cancelDeadline = 5 * time.Second
	// leaseConns bounds the leases' own pool. A lease renewal that queued
	// for a connection behind slow appends and reads could arrive after
	// its lease ran out, and deposing a leader for a busy pool only adds a
	// takeover to the load; renewals are a few short queries per TTL.
	leaseConns = 2
)

// Store is the PostgreSQL event store. Use Open; all methods are safe for
// concurrent use.
type Store struct {
	pool      *pgxpool.Pool
	leasePool *pgxpool.Pool // leases only (leaseConns)
	log       *slog.Logger
	poll      time.Duration

	closing   context.Context // done once Close is called
	stop      context.CancelFunc
	closeOnce sync.Once
	workers   sync.WaitGroup // the committers, the notifier and the listener

	mu        sync.Mutex
	closed    bool          // set under mu by Close: no new workers after it
	listening bool          // the listener runs
	wake      chan struct{} // closed and replaced when new events may be readable

	notify chan struct{}   // buffered 1: "an append ended, tell the other pods"
	reqs   chan *appendReq // unbuffered: a request received is a request answered
}

// Option configures Open.
type Option func(*options)

type options struct {
	log        *slog.Logger
	maxConns   int32
	poll       time.Duration
	committers int
}

// WithLogger sets where the store reports schema changes, lost notifications
// and listener reconnects (default: discard; failures of calls reach the
// caller as errors anyway).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithMaxConns bounds the connection pool (default 16, or pool_max_conns in
// the URL). A subscription's listener uses one more connection of its own,
// and leases up to two more (leaseConns).
func WithMaxConns(n int32) Option { return func(o *options) { o.maxConns = n } }

// WithCommitters sets how many group commits run at once (default: a
// quarter of the pool, at least one). Fewer make larger batches, so more
// appends per second under load; more let other appends proceed while a
// batch waits for a stream another process is writing.
func WithCommitters(n int) Option { return func(o *options) { o.committers = n } }

// WithPollInterval sets how often an idle subscription reads without having
// been woken (default 500ms).
func WithPollInterval(d time.Duration) Option { return func(o *options) { o.poll = d } }

// Open connects to the database of url (postgres://user:pass@host:5432/db, or
// any form pgx accepts) and creates or upgrades the schema. A server that
// does not answer fails Open, within ctx and connect_timeout (default 10s).
// Pods may open the same database at once: schema changes run one at a time
// under an advisory lock.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	o := options{log: slog.New(slog.DiscardHandler), poll: defaultPoll}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres event store: %w", err)
	}
	// ParseConfig consumes pool_max_conns; without it, its default is a
	// handful, too few for concurrent writers to share flushes.
	switch {
	case o.maxConns > 0:
		cfg.MaxConns = o.maxConns
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = defaultMaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	// A cancelled context cancels the query the way psql does, with a cancel
	// request, and the connection lives on. pgx's default instead breaks the
	// socket with a deadline; on a TLS connection it then cannot even say
	// goodbye, and the pool's Close waits 15 s for a server that never hangs
	// up. The deadline remains as the fallback for a server that does not
	// answer the cancel request.
	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: cancelDeadline}
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres event store %s: %w", where, err)
	}
	// The pool connects lazily: ping so that a wrong address or password
	// fails here, at start, not at the first command.
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres event store %s: connect: %w", where, err)
	}
	if err := migrate(ctx, pool, o.log); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres event store %s: %w", where, err)
	}
	lcfg := cfg.Copy()
	lcfg.MaxConns, lcfg.MinConns = leaseConns, 0
	leasePool, err := pgxpool.NewWithConfig(ctx, lcfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres event store %s: lease pool: %w", where, err)
	}
	s := &Store{
		pool:      pool,
		leasePool: leasePool,
		log:       o.log,
		poll:      o.poll,
		wake:      make(chan struct{}),
		notify:    make(chan struct{}, 1),
		reqs:      make(chan *appendReq),
	}
	if s.poll <= 0 {
		s.poll = defaultPoll
	}
	s.closing, s.stop = context.WithCancel(context.Background())
	s.workers.Add(1)
	go s.notifier()
	if o.committers <= 0 {
		o.committers = max(1, int(cfg.MaxConns)/4)
	}
	for range o.committers {
		s.workers.Add(1)
		go s.committer()
	}
	return s, nil
}

// Close ends subscriptions with eventstore.ErrClosed, stops the notifier and
// the listener, and closes the pools once the calls in flight have returned
// their connections. Closing again returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.stop()
		s.workers.Wait()
		s.pool.Close()
		s.leasePool.Close()
	})
	return nil
}

// failed turns an error of the pool into the port's terms: after Close every
// failure is ErrClosed, whatever pgx says about it.
func (s *Store) failed(ctx context.Context, err error) error {
	switch {
	case s.closing.Err() != nil:
		return eventstore.ErrClosed
	case ctx.Err() != nil && !errors.Is(err, ctx.Err()):
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

var (
	_ eventstore.Store       = (*Store)(nil)
	_ eventstore.Checkpoints = (*Store)(nil)
	_ eventstore.HeadReader  = (*Store)(nil)
	_ eventstore.Leases      = (*Store)(nil)
)
