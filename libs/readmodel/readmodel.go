// Package readmodel folds a service's own streams into an in-memory view:
// a catch-up subscription from the start of the store, filtered to the
// service's stream prefixes, with read-your-writes waits for HTTP handlers.
// It knows when it has caught up with the store (Ready), so a replica
// answers /readyz only once its view is whole.
package readmodel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/clock"
	"github.com/ringback/ringback/libs/eventstore"
)

// Projection drives Apply with every event of the matching streams, in
// store order, from one goroutine.
type Projection struct {
	Prefixes []string // streams to fold, e.g. "agent-"; empty means all
	Apply    func(eventstore.RecordedEvent, proto.Message)
	// FromHead starts the fold at the store's head instead of its start,
	// for a view that is a cache: one that reads from the store whatever it
	// does not hold (history's), so a restart replays nothing.
	FromHead bool

	mu       sync.Mutex
	pos      eventstore.Position
	changed  chan struct{}
	head     eventstore.Position // the store's last event when Run started
	started  bool
	caughtUp bool
	runErr   error
	// positionWaiters wait for a position that may be another service's
	// event (a client's consistency token): while there are any, every
	// event wakes the waiters, not only the folded ones.
	positionWaiters int
}

func (p *Projection) wants(stream string) bool {
	if len(p.Prefixes) == 0 {
		return true
	}
	for _, pre := range p.Prefixes {
		if strings.HasPrefix(stream, pre) {
			return true
		}
	}
	return false
}

// Run folds the store until ctx is done.
func (p *Projection) Run(ctx context.Context, store eventstore.Store) error {
	// The head is read before subscribing: every event up to it will be
	// delivered, so reaching it means the view holds all that was stored
	// when this replica started. Every adapter can say; a store that cannot
	// would count as caught up at once.
	var head eventstore.Position
	if h, ok := store.(eventstore.HeadReader); ok {
		var err error
		// The store may not answer yet (a pod starting beside its
		// database): retry, saying why in Ready meanwhile.
		for wait := 50 * time.Millisecond; ; wait = min(wait*2, 5*time.Second) {
			if head, err = h.Head(ctx); err == nil {
				break
			}
			p.fail(fmt.Errorf("head of the store: %w", err))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
		p.fail(nil)
	}
	var from eventstore.Position
	p.mu.Lock()
	if p.FromHead {
		from = head
		if p.pos.Less(head) {
			p.pos = head
		}
	}
	p.head, p.started = head, true
	p.caughtUp = !p.pos.Less(head)
	var ch chan struct{}
	if p.caughtUp { // an empty store: ready at once, and waiters are told
		ch, p.changed = p.changed, nil
	}
	p.mu.Unlock()
	if ch != nil {
		close(ch)
	}
	// A subscription that fails (the store unreachable for a while) is
	// resumed from the last position folded, with backoff, instead of
	// ending the process: the view stays, /readyz says why meanwhile.
	wait := 50 * time.Millisecond
	subscribe := store.SubscribeAll
	if ss, ok := store.(eventstore.StreamSubscriber); ok && len(p.Prefixes) > 0 {
		// The events of other streams are only counted: not opened.
		subscribe = func(ctx context.Context, from eventstore.Position, fn func(context.Context, eventstore.RecordedEvent) error) error {
			return ss.SubscribeStreams(ctx, from, p.wants, fn)
		}
	}
	for {
		err := subscribe(ctx, from, func(_ context.Context, r eventstore.RecordedEvent) error {
			folded := false
			if p.wants(r.Stream) {
				if m, err := eventstore.Decode(r); err == nil {
					p.Apply(r, m)
					folded = true
				}
			}
			p.advance(r.Position, folded)
			return nil
		})
		if err == nil || ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, eventstore.ErrClosed) {
			return nil //nolint:nilerr // stopped, or the store closed: not a failure
		}
		p.fail(err)
		if !clock.Sleep(ctx, wait) {
			return nil
		}
		wait = min(wait*2, 5*time.Second)
		from = p.Position()
		p.fail(nil)
	}
}

func (p *Projection) fail(err error) {
	p.mu.Lock()
	p.runErr = err
	p.mu.Unlock()
}

// advance moves the position on every event, and wakes the waiters only
// when the event was folded (or the view just caught up): a service's
// loops re-read their own view, which other services' events do not change.
func (p *Projection) advance(pos eventstore.Position, folded bool) {
	p.mu.Lock()
	p.pos = pos
	if !p.caughtUp && !pos.Less(p.head) {
		p.caughtUp, folded = true, true
	}
	var ch chan struct{}
	if folded || p.positionWaiters > 0 {
		ch, p.changed = p.changed, nil
	}
	p.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// Ready says whether the view holds every event that was in the store
// when Run started; an error says why not (still catching up, or failed).
func (p *Projection) Ready() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.runErr != nil:
		return fmt.Errorf("read model %s: %w", strings.Join(p.Prefixes, ","), p.runErr)
	case !p.started:
		return fmt.Errorf("read model %s: not started", strings.Join(p.Prefixes, ","))
	case !p.caughtUp:
		return fmt.Errorf("read model %s: catching up, at %v of %v", strings.Join(p.Prefixes, ","), p.pos, p.head)
	}
	return nil
}

// Changed returns a channel closed at the next event folded (of the
// streams the projection wants), or when the view catches up.
func (p *Projection) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.changed == nil {
		p.changed = make(chan struct{})
	}
	return p.changed
}

// Position is the last position folded.
func (p *Projection) Position() eventstore.Position {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pos
}

// WaitFor blocks until the event at pos has been folded, so a handler can
// answer with the view that includes its own write. pos must be the
// position of an event of a stream the projection wants: only those wake it.
func (p *Projection) WaitFor(ctx context.Context, pos eventstore.Position) error {
	for {
		ch := p.Changed()
		if cur := p.Position(); !cur.Less(pos) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitPosition blocks until the view has read the store up to pos, which
// may be the position of any service's event: a client's consistency token
// (libs/consistency). Unlike WaitFor, events of streams the projection does
// not fold wake it too.
func (p *Projection) WaitPosition(ctx context.Context, pos eventstore.Position) error {
	if !p.Position().Less(pos) {
		return nil
	}
	p.mu.Lock()
	p.positionWaiters++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.positionWaiters--
		p.mu.Unlock()
	}()
	return p.WaitFor(ctx, pos)
}

// WaitUntil blocks until cond holds, re-checking after every folded event.
func (p *Projection) WaitUntil(ctx context.Context, cond func() bool) error {
	for {
		ch := p.Changed()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
