package eventstore

import (
	"context"
	"fmt"
	"sync"
)

// Cache keeps streams folded in memory, so loading one reads only the
// events appended since the last load. It is safe for concurrent use.
// Cached states are shared values: an Evolve used with a Cache must not
// change maps or slices of the state it is given in place (copy them).
//
// Commands executed through one Cache (ExecuteCached) on one stream take
// turns in this process: they could only conflict with one another, and
// each conflict costs a read, a decision, a failed append and a backoff
// (history's consumer, recording a callback's events as they come from
// six topics at once, lost 13 appends per callback so). Other processes'
// appends still conflict, and are retried.
type Cache[S any] struct {
	max   int
	mu    sync.Mutex
	m     map[string]*cacheEntry[S]
	turns map[string]*turn // streams a command holds or waits for
}

// turn is one stream's: the command holding it has put a token in sem.
type turn struct {
	sem   chan struct{}
	users int // holding or waiting
}

type cacheEntry[S any] struct {
	state    S
	expected ExpectedRevision
	ids      map[string]bool
}

// NewCache returns a cache of at most max streams; beyond it, some other
// stream is forgotten (and read whole again if needed).
func NewCache[S any](max int) *Cache[S] {
	return &Cache[S]{max: max, m: map[string]*cacheEntry[S]{}, turns: map[string]*turn{}}
}

// take waits for stream's turn in this process, or for ctx; the func it
// returns gives the turn up.
func (c *Cache[S]) take(ctx context.Context, stream string) (func(), error) {
	c.mu.Lock()
	t := c.turns[stream]
	if t == nil {
		t = &turn{sem: make(chan struct{}, 1)}
		c.turns[stream] = t
	}
	t.users++
	c.mu.Unlock()
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		c.leave(stream, t)
		return nil, fmt.Errorf("wait for %s: %w", stream, ctx.Err())
	}
	return func() {
		<-t.sem
		c.leave(stream, t)
	}, nil
}

func (c *Cache[S]) leave(stream string, t *turn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.users--; t.users == 0 {
		delete(c.turns, stream)
	}
}

// Load folds stream from its cached state and the events appended since.
func (c *Cache[S]) Load(ctx context.Context, store Store, stream string, agg Aggregate[S]) (Loaded[S], error) {
	c.mu.Lock()
	state, expected := agg.Initial, NoStream
	if e := c.m[stream]; e != nil {
		state, expected = e.state, e.expected
	}
	c.mu.Unlock()
	from := Revision(0)
	if expected != NoStream {
		from = Revision(expected) + 1
	}
	recs, err := store.ReadStream(ctx, stream, from)
	if err != nil {
		return Loaded[S]{}, fmt.Errorf("read %s: %w", stream, err)
	}
	for _, r := range recs {
		expected = Exactly(r.Revision)
		if m, err := Decode(r); err == nil {
			state = agg.Evolve(state, m)
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[stream]
	if e == nil {
		if len(c.m) >= c.max {
			for k := range c.m { // forget one: map order is as good as any
				delete(c.m, k)
				break
			}
		}
		e = &cacheEntry[S]{expected: NoStream, ids: map[string]bool{}}
		c.m[stream] = e
	}
	if from > 0 && e.expected == NoStream {
		// Forgotten while we read: the ids before from are unknown, so
		// start the entry over from the whole stream next time.
		delete(c.m, stream)
		return Load(ctx, store, stream, agg)
	}
	for _, r := range recs {
		e.ids[r.ID] = true
	}
	if expected > e.expected {
		e.state, e.expected = state, expected
	}
	return Loaded[S]{State: state, Expected: expected, seen: func(id string) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return e.ids[id]
	}}, nil
}

// appended records what the caller appended to stream after loading it at
// from: the next Load then reads only what others appended since, instead
// of reading back (and decoding) the caller's own events. When the entry
// moved or was forgotten meanwhile, nothing is recorded and Load reads the
// tail as usual; the store stays the truth.
func (c *Cache[S]) appended(stream string, from, to ExpectedRevision, state S, ids []EventData) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[stream]
	if e == nil || e.expected != from || to <= from {
		return
	}
	for _, d := range ids {
		e.ids[d.ID] = true
	}
	e.state, e.expected = state, to
}
