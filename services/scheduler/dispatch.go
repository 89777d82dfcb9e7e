package scheduler

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"time"
)

// Firing many callbacks due at once (10,000 in the same second: a
// campaign's slot) one after the other would cost one durable append each,
// in turn: seconds of lag for the last. The timer instead takes every due
// callback at once and fires them from a bounded pool, so their appends
// share the store's syncs (the embedded store commits concurrent appends
// together; PostgreSQL and KurrentDB pipeline them).
const (
	// fireWorkers bounds the appends in flight: enough to fill a group
	// commit, few enough not to swamp a shared store.
	fireWorkers = 64
	// fireBatch bounds what one wake-up takes from the queue, so the
	// timer comes back to the projection's changes between batches.
	fireBatch = 4096
)

// popDue takes from the queue up to max pending callbacks due at or before
// now, earliest first. Taken entries leave the queue: the projection folds
// their CallbackDue, or requeue puts back those whose firing failed.
func (p *pending) popDue(now time.Time, max int) []entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []entry
	for len(p.queue) > 0 && len(out) < max {
		top := p.queue[0]
		if top.due.After(now) {
			break
		}
		heap.Pop(&p.queue)
		if d, ok := p.dues[top.id]; ok && d == top.due.UnixNano() {
			out = append(out, top)
		}
	}
	return out
}

// requeue puts back entries whose firing failed, to be tried again.
func (p *pending) requeue(es []entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range es {
		if d, ok := p.dues[e.id]; ok && d == e.due.UnixNano() {
			heap.Push(&p.queue, e)
		}
	}
}

// fireNow fires next, the earliest timer, which is due: an expiry on its
// own, a due callback together with every other one due by now. It
// returns once every firing it started has ended; the error is the first.
func (s *Service) fireNow(ctx context.Context, next entry, now time.Time) error {
	if next.expire {
		return s.fire(ctx, next, now)
	}
	batch := s.pending.popDue(now, fireBatch)
	if len(batch) == 0 {
		return nil // fired or moved since next was read
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []entry
		errs   []error
		work   = make(chan entry)
	)
	for range min(fireWorkers, len(batch)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				if err := s.fire(ctx, e, now); err != nil {
					mu.Lock()
					failed, errs = append(failed, e), append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, e := range batch {
		work <- e
	}
	close(work)
	wg.Wait()
	if len(failed) > 0 {
		s.pending.requeue(failed)
		return fmt.Errorf("%w (and %d more failed)", errs[0], len(errs)-1)
	}
	return nil
}
