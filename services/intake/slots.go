package intake

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ringback/ringback/libs/availability"
	"github.com/ringback/ringback/libs/callwindow"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/httpx"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/intake/callback"
)

// nearestSlots is how many free slots a refusal offers instead.
const nearestSlots = 5

// searchSpans widen the search for free slots around a refused wish: each
// bucket looked at is one read of its stream, so the common case (a free
// slot within the hour) costs a handful of reads, and a booked-out day a
// few dozen at most.
var searchSpans = []time.Duration{2 * time.Hour, 12 * time.Hour, 3 * 24 * time.Hour}

var heldAggregate = eventstore.Aggregate[int]{Evolve: availability.Held}

// checkSlot refuses, with 409 and the nearest free slots, a wished time in
// a slot that is full or closed, when the service's capacity says to refuse
// (when_full: refuse); with when_full: move the scheduler moves it.
//
// It reads the bucket's slot stream, the very one the scheduler appends its
// places to with an expected revision, rather than folding every slot
// stream into a view: a view would make a request wait for it after a
// restart, and the count is the authority's, not a view's.
// Two requests racing for the last place may both pass: the scheduler,
// which serialises the takes, then moves the second and says why.
//
// id is the callback's; retried says the request has an Idempotency-Key:
// a retry of a request that was accepted (and may hold the last place
// itself) is answered with its callback, never refused.
func (s *Service) checkSlot(ctx context.Context, id string, retried bool, r *callbackv1.CallbackRequest, now time.Time) error {
	if r.GetDesiredTime() == nil {
		return nil // as soon as possible: nothing was booked
	}
	svc := s.cfg.ServiceSet.Of(r.GetService())
	c := svc.Capacity
	if c == nil || c.Bucket <= 0 || c.Move {
		return nil
	}
	wish := r.GetDesiredTime().AsTime()
	if !wish.After(now) {
		return nil // due at once: it takes no place
	}
	if retried {
		l, err := eventstore.Load(ctx, s.deps.Store, callback.Stream(id), aggregate)
		if err != nil {
			return err
		}
		if l.State.Exists {
			return nil
		}
	}
	loc := svc.Hours.Location()
	bucket := availability.BucketStart(wish, loc, c.Bucket)
	capacity := c.PerBucket[bucket.In(loc).Weekday()]
	reason := ""
	switch {
	case !svc.Hours.Open(wish) || capacity == 0:
		reason = "the service is closed then"
	default:
		l, err := eventstore.Load(ctx, s.deps.Store, availability.Stream(svc.Name, bucket), heldAggregate)
		if err != nil {
			return err
		}
		if l.State < capacity {
			return nil
		}
		reason = fmt.Sprintf("that slot is full (%d of %d)", l.State, capacity)
	}
	// The nearest free slots, in the contact's zone when known, inside
	// the calling window the scheduler would keep.
	held := map[int64]int{}
	var readErr error
	booked := func(b time.Time) int {
		if n, ok := held[b.Unix()]; ok {
			return n
		}
		l, err := eventstore.Load(ctx, s.deps.Store, availability.Stream(svc.Name, b), heldAggregate)
		if err != nil {
			readErr = err
			return 1 << 30 // unknown: not offered
		}
		held[b.Unix()] = l.State
		return l.State
	}
	zones := callwindow.Zones(r.GetPhoneNumber(), r.GetTimezone(), svc.Hours.Loc)
	limit := now.Add(svc.BookAhead)
	var near []availability.Slot
	for _, d := range searchSpans {
		q := availability.Query{Hours: svc.Hours, Capacity: *c, From: later(now, wish.Add(-d)), To: earlier(limit, wish.Add(d)),
			Window: svc.Window, Zones: zones}
		if near = availability.Nearest(q, booked, wish, nearestSlots); len(near) == nearestSlots || readErr != nil {
			break
		}
	}
	if readErr != nil {
		return readErr
	}
	show := loc
	if tz, err := callwindow.LoadZone(r.GetTimezone()); err == nil {
		show = tz
	}
	p := httpx.Conflict(reason + ": choose one of the slots offered")
	p.Field = "desired_time"
	return p.With("slots", availability.Views(near, show))
}

func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if a.After(b) {
		return b
	}
	return a
}

// scheduledMoves says why a new callback's due time is not the wish: its
// slot was full (the scheduler moved it), then the calling window.
func scheduledMoves(ev *callbackv1.CallbackScheduled) string {
	var out []string
	for _, r := range []string{ev.GetMovedByCapacity().GetReason(), ev.GetMovedByWindow().GetReason()} {
		if r != "" {
			out = append(out, r)
		}
	}
	return strings.Join(out, "; ")
}
