package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// namedCheck is one part of /readyz.
type namedCheck struct {
	name  string
	check func() error
}

// probeCache remembers the last reachability probe for a second, so that
// probes from many kubelets and load balancers cost the store and the
// broker one round trip a second, not one each.
type probeCache struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

const probeEvery = time.Second

func (p *probeCache) check(ctx context.Context, probe func(context.Context) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.at) < probeEvery {
		return p.err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	p.err, p.at = probe(ctx), time.Now()
	return p.err
}

// pinger is a bus that can tell whether its brokers answer (Kafka).
type pinger interface {
	Ping(ctx context.Context) error
}

// reachable probes the event store (a read of a stream nobody writes: the
// expected answer is an empty stream) and, on Kafka, the brokers.
func (a *App) reachable(ctx context.Context) error {
	if _, err := a.Store.ReadStream(ctx, "ringback-readiness-check", 0); err != nil {
		return fmt.Errorf("event store: %w", err)
	}
	if p, ok := a.Publisher.(pinger); ok {
		if err := p.Ping(ctx); err != nil {
			return fmt.Errorf("bus: %w", err)
		}
	}
	return nil
}

// joiner is a bus subscriber that can tell whether it joined its consumer
// group (Kafka).
type joiner interface{ Joined() error }

// consuming says whether every service listens: all its subscriptions made
// and, on Kafka, joined to their groups, so a replica that reports ready
// also takes its share of the work.
func (a *App) consuming() error {
	if n := a.subscribed.Load(); n < int64(a.expected) {
		return fmt.Errorf("bus: %d of %d subscriptions made", n, a.expected)
	}
	a.joinMu.Lock()
	defer a.joinMu.Unlock()
	for _, j := range a.joiners {
		if err := j.Joined(); err != nil {
			return fmt.Errorf("bus: %w", err)
		}
	}
	return nil
}
