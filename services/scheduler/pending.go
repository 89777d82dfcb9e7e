package scheduler

import (
	"container/heap"
	"context"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/clock"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/services/scheduler/schedule"
)

// pending is scheduler's read model: the callbacks waiting for their due
// time, earliest first. Folded from scheduler's own streams, so a restarted
// scheduler picks up every pending callback and none that already fired.
//
// It keeps per callback only what the timer needs, its due time (issue 11:
// a million pending callbacks in well under 1 KiB each); the request, case
// data included, stays in the store and is read again when the callback
// fires.
type pending struct {
	mu    sync.Mutex
	dues  map[string]int64 // pending callbacks only: id -> due, Unix nanoseconds
	queue dueQueue         // may hold stale entries; next() drops them
}

func newPending() *pending { return &pending{dues: map[string]int64{}} }

// apply folds one event of a schedule stream. It answers whether the
// callback is pending after it, and until when, for the bookings.
func (p *pending) apply(r eventstore.RecordedEvent, e proto.Message) (id string, due time.Time, isPending bool) {
	// A copy: the stream name would otherwise stay in memory with the key
	// (a map assignment replaces a string key with the new one).
	id = strings.Clone(strings.TrimPrefix(r.Stream, schedule.StreamPrefix))
	p.mu.Lock()
	defer p.mu.Unlock()
	old, was := p.dues[id]
	// The domain's own Evolve decides what the event does to the status,
	// from the little we keep: the rules stay in one place.
	var st schedule.State
	if was {
		st = schedule.State{Status: schedule.Pending, DueAt: time.Unix(0, old).UTC()}
	}
	st = schedule.Evolve(st, e)
	if st.Status != schedule.Pending {
		delete(p.dues, id)
		return id, st.DueAt, false
	}
	d := st.DueAt.UnixNano()
	if !was || old != d {
		heap.Push(&p.queue, entry{id: id, due: time.Unix(0, d).UTC()})
	}
	p.dues[id] = d
	return id, st.DueAt, true
}

// next is the earliest pending callback.
func (p *pending) next() (entry, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.queue) > 0 {
		top := p.queue[0]
		if d, ok := p.dues[top.id]; ok && d == top.due.UnixNano() {
			return top, true
		}
		heap.Pop(&p.queue) // fired, cancelled or moved since it was queued
	}
	return entry{}, false
}

func (p *pending) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.dues)
}

// entry is a callback due at a time.
type entry struct {
	id  string
	due time.Time
	// expire: the time to live ends then (expiry.go), not a due time.
	expire bool
}

func (e entry) is(o entry) bool { return e.id == o.id && e.due.Equal(o.due) && e.expire == o.expire }

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
		next, ok := s.nextTimer()
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
				if err := s.fireNow(ctx, next, now); err != nil {
					if ctx.Err() != nil {
						return nil //nolint:nilerr // stopping: the write failing under the stop is the stop
					}
					s.deps.Log.Error("fire due callback; retrying", "callback", next.id, "err", err)
					if !clock.Sleep(ctx, retryAfter) {
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
	if e.expire {
		return s.expire(ctx, e, now)
	}
	cause := eventstore.Cause{ID: "due:" + e.id + ":" + e.due.UTC().Format(time.RFC3339Nano), Correlation: e.id}
	_, err := s.execute(ctx, e.id, cause, schedule.Fire{At: now})
	return err
}
