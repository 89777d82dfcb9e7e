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

// expiring is the read model of the callbacks whose time to live runs
// (scheduled, or queued and not yet in an agent's hands), earliest expiry
// first. Per callback it keeps only what decides whether the time to live
// still runs, not the request (issue 11: well under 1 KiB per callback).
type expiring struct {
	mu     sync.Mutex
	states map[string]ttl // expiring only
	queue  dueQueue       // by expiry; may hold stale entries
}

// ttl is the little of a schedule the expiry needs.
type ttl struct {
	expires int64  // Unix nanoseconds
	current string // the interaction of the latest firing
	fired   bool   // queued or offered; else scheduled
}

func newExpiring() *expiring { return &expiring{states: map[string]ttl{}} }

func (x *expiring) apply(r eventstore.RecordedEvent, e proto.Message) {
	x.mu.Lock()
	defer x.mu.Unlock()
	id := strings.TrimPrefix(r.Stream, schedule.StreamPrefix)
	old, was := x.states[id]
	// The domain's Evolve decides, from the little kept: the rules stay in
	// schedule.State.Expiring.
	var st schedule.State
	if was {
		st = schedule.State{Status: schedule.Pending, ExpiresAt: time.Unix(0, old.expires).UTC(), Interaction: old.current}
		if old.fired {
			st.Status = schedule.Fired
		}
	}
	st = schedule.Evolve(st, e)
	if !st.Expiring() {
		// In an agent's hands, or ended. A retry after an accepted
		// interaction starts again from its CallbackRescheduled, which
		// carries the expiry.
		delete(x.states, id)
		return
	}
	now := ttl{expires: st.ExpiresAt.UnixNano(), current: st.Interaction, fired: st.Status == schedule.Fired}
	if !was || old.expires != now.expires {
		// A copy: the key would otherwise keep the stream name's memory.
		id = strings.Clone(id)
		heap.Push(&x.queue, entry{id: id, due: time.Unix(0, now.expires).UTC()})
	}
	x.states[id] = now
}

// next is the earliest expiry.
func (x *expiring) next() (entry, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for len(x.queue) > 0 {
		top := x.queue[0]
		if st, ok := x.states[top.id]; ok && st.expires == top.due.UnixNano() {
			return top, true
		}
		heap.Pop(&x.queue)
	}
	return entry{}, false
}

// nextTimer is what the timer waits for first: a due time, or the end of
// a time to live. One timer for both, so a test's fake clock has one waiter.
func (s *Service) nextTimer() (entry, bool) {
	due, okDue := s.pending.next()
	exp, okExp := s.expiring.next()
	if okExp && (!okDue || exp.due.Before(due.due)) {
		exp.expire = true
		return exp, true
	}
	return due, okDue
}

// expire ends a callback whose time to live ran out; the cause names it
// once, since a callback expires at most once.
func (s *Service) expire(ctx context.Context, e entry, now time.Time) error {
	cause := eventstore.Cause{ID: "expire:" + e.id, Correlation: e.id}
	out, err := s.execute(ctx, e.id, cause, schedule.Expire{At: now})
	if err == nil && len(out.Events) > 0 && !out.Replay {
		s.expired.Inc()
	}
	return err
}
