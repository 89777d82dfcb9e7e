// Package readmodel folds a service's own streams into an in-memory view:
// a catch-up subscription from the start of the store, filtered to the
// service's stream prefixes, with read-your-writes waits for HTTP handlers.
package readmodel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
)

// Projection drives Apply with every event of the matching streams, in
// store order, from one goroutine.
type Projection struct {
	Prefixes []string // streams to fold, e.g. "agent-"; empty means all
	Apply    func(eventstore.RecordedEvent, proto.Message)

	mu      sync.Mutex
	pos     eventstore.Position
	changed chan struct{}
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
	err := store.SubscribeAll(ctx, eventstore.Position{}, func(_ context.Context, r eventstore.RecordedEvent) error {
		if p.wants(r.Stream) {
			if m, err := eventstore.Decode(r); err == nil {
				p.Apply(r, m)
			}
		}
		p.advance(r.Position)
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, eventstore.ErrClosed) {
		return fmt.Errorf("projection: %w", err)
	}
	return nil
}

func (p *Projection) advance(pos eventstore.Position) {
	p.mu.Lock()
	p.pos = pos
	ch := p.changed
	p.changed = nil
	p.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// Changed returns a channel closed at the next event folded.
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
// answer with the view that includes its own write.
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
