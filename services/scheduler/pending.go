package scheduler

import (
	"container/heap"
	"context"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/services/scheduler/schedule"
)

// pending is scheduler's read model: the callbacks waiting for their due
// time, earliest first. Folded from scheduler's own streams, so a restarted
// scheduler picks up every pending callback and none that already fired.
type pending struct {
	mu     sync.Mutex
	states map[string]schedule.State // pending callbacks only
	queue  dueQueue                  // may hold stale entries; next() drops them
}

func newPending() *pending { return &pending{states: map[string]schedule.State{}} }

func (p *pending) apply(r eventstore.RecordedEvent, e proto.Message) {
	id := strings.TrimPrefix(r.Stream, schedule.StreamPrefix)
	p.mu.Lock()
	defer p.mu.Unlock()
	old, was := p.states[id]
	st := schedule.Evolve(old, e)
	if st.Status != schedule.Pending {
		delete(p.states, id)
		return
	}
	if !was || !old.DueAt.Equal(st.DueAt) {
		heap.Push(&p.queue, entry{id: id, due: st.DueAt})
	}
	p.states[id] = st
}

// next is the earliest pending callback.
func (p *pending) next() (entry, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.queue) > 0 {
		top := p.queue[0]
		if st, ok := p.states[top.id]; ok && st.DueAt.Equal(top.due) {
			return top, true
		}
		heap.Pop(&p.queue) // fired, cancelled or moved since it was queued
	}
	return entry{}, false
}

func (p *pending) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.states)
}

// entry is a callback due at a time.
type entry struct {
	id  string
	due time.Time
}

func (e entry) is(o entry) bool { return e.id == o.id && e.due.Equal(o.due) }

// dueQueue is a min-heap of entries by due time.
type dueQueue []entry

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q dueQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)        { *q = append(*q, x.(entry)) }
func (q *dueQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// retryAfter paces retries of a firing the store refused; it is real time,
// like the inbox's retries, since it waits for the store, not for a schedule.
const retryAfter = 500 * time.Millisecond

// timer fires the earliest pending callback when its time comes. It wakes on
// the clock and whenever the projection folds something, since a new
// schedule may be earlier than the one it waits for.
func (s *Service) timer(ctx context.Context) error {
	var (
		wake  <-chan time.Time
		armed entry // what wake is set for
		fired entry // last fired, until the projection folds its outcome
	)
	for {
		changed := s.proj.Changed()
		next, ok := s.pending.next()
		switch {
		case !ok:
			wake, armed = nil, entry{}
		case next.is(fired):
			// Fired, but the projection has not folded the outcome yet:
			// waiting for it avoids firing the same callback in a loop.
			wake, armed = nil, entry{}
		default:
			now := s.deps.Clock.Now()
			if !now.Before(next.due) {
				if err := s.fire(ctx, next, now); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					s.deps.Log.Error("fire due callback; retrying", "callback", next.id, "err", err)
					if !sleep(ctx, retryAfter) {
						return nil
					}
					continue
				}
				fired = next
				continue
			}
			// A timer per due time, not per wake-up: the projection changes
			// on every event of the store.
			if wake == nil || !armed.is(next) {
				wake, armed = s.deps.Clock.After(next.due.Sub(now)), next
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-wake:
			wake, armed = nil, entry{}
		}
	}
}

// fire makes a callback due. The cause names the callback and its due time,
// so a second instance or a restart firing the same schedule appends nothing.
func (s *Service) fire(ctx context.Context, e entry, now time.Time) error {
	cause := eventstore.Cause{ID: "due:" + e.id + ":" + e.due.UTC().Format(time.RFC3339Nano), Correlation: e.id}
	_, err := s.execute(ctx, e.id, cause, schedule.Fire{At: now})
	return err
}

// sleep waits d of real time; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
