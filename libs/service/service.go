// Package service is the skeleton every ringback service shares (issue
// 13): what the binary gives it (Deps), how it starts (its agents file,
// its metrics), how it runs (a read model folding the store beside an
// inbox consuming the bus, and its own loops), and the one write path of
// each of its domains (Domain.Execute). A service is its domain packages,
// its handlers and its routes; the rest is here, once.
package service

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"runtime"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/clock"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/inbox"
	"github.com/ringback/ringback/libs/lifecycle"
	"github.com/ringback/ringback/libs/readmodel"
)

// Deps is what the binary gives every service: the shared event store,
// the bus's consumer groups, time, the log, the metrics registry and the
// HTTP mux its routes go on.
type Deps struct {
	Store       eventstore.Store
	Subscribers inbox.Subscribers
	Clock       clock.Clock
	Log         *slog.Logger
	Metrics     prometheus.Registerer
	Mux         *http.ServeMux
}

// Agents loads the agents file (empty: none, the open platform, which it
// warns of at start).
func (d Deps) Agents(file string) (*agentauth.Directory, error) {
	agents, err := agentauth.Load(file)
	if err != nil {
		return nil, err
	}
	agentauth.WarnOpen(d.Log, agents)
	return agents, nil
}

// Register registers a service's collectors, naming the service when one
// is refused (registered twice: two services of one name in one process).
func (d Deps) Register(name string, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := d.Metrics.Register(c); err != nil {
			return fmt.Errorf("%s metrics: %w", name, err)
		}
	}
	return nil
}

// Run runs a service until ctx ends or a part fails: its read model
// folding the store (proj), its inbox consuming in's topics with handle,
// and its own loops (timers, leaders, releasers, followers of the store).
// The read model resumes by itself when the store fails; the inbox and the
// service's loops, which resume from what is stored (the consumer group's
// offsets, checkpoints, the store's streams), are restarted when they fail
// (lifecycle.Restarting): a bus or store that fails for a while must not
// take down every replica of a service at once.
func (d Deps) Run(ctx context.Context, proj *readmodel.Projection, in inbox.Config, handle inbox.Handler, loops ...lifecycle.Loop) error {
	if in.Log == nil {
		in.Log = d.Log
	}
	consume := func(ctx context.Context) error { return inbox.Consume(ctx, d.Subscribers, in, handle) }
	parts := []lifecycle.Loop{
		func(ctx context.Context) error { return proj.Run(ctx, d.Store) },
		lifecycle.Restarting(d.Log, "inbox "+in.Name, consume),
	}
	for _, l := range loops {
		parts = append(parts, lifecycle.Restarting(d.Log, loopName(l), l))
	}
	return lifecycle.Run(ctx, parts...)
}

// loopName names a loop in the log by its function, such as
// "intake.(*Service).claimer".
func loopName(l lifecycle.Loop) string {
	f := runtime.FuncForPC(reflect.ValueOf(l).Pointer())
	if f == nil {
		return "loop"
	}
	name := strings.TrimSuffix(f.Name(), "-fm")
	return name[strings.LastIndex(name, "/")+1:]
}

// Domain is one of a service's aggregates: its streams, its fold and its
// decisions. Execute is the only way its events are written.
type Domain[S any, C any] struct {
	Stream    func(id string) string
	Aggregate eventstore.Aggregate[S]
	Decide    func(S, C) ([]proto.Message, error)
}

// Load folds the stream of id.
func (d Domain[S, C]) Load(ctx context.Context, store eventstore.Store, id string) (eventstore.Loaded[S], error) {
	return eventstore.Load(ctx, store, d.Stream(id), d.Aggregate)
}

// Execute decides cmd on the stream of id, as folded, and appends what it
// decides (eventstore.Execute: idempotent by cause, retried on conflict).
func (d Domain[S, C]) Execute(ctx context.Context, store eventstore.Store, id string, cause eventstore.Cause, cmd C) (eventstore.Outcome[S], error) {
	return eventstore.Execute(ctx, store, d.Stream(id), d.Aggregate, cause, d.decide(cmd))
}

// ExecuteFrom is Execute deciding first from l, the stream as the caller
// read it with Load (eventstore.ExecuteFrom): a command reads once.
func (d Domain[S, C]) ExecuteFrom(ctx context.Context, store eventstore.Store, l eventstore.Loaded[S], id string, cause eventstore.Cause, cmd C) (eventstore.Outcome[S], error) {
	return eventstore.ExecuteFrom(ctx, store, l, d.Stream(id), d.Aggregate, cause, d.decide(cmd))
}

func (d Domain[S, C]) decide(cmd C) func(S) ([]proto.Message, error) {
	return func(st S) ([]proto.Message, error) { return d.Decide(st, cmd) }
}
