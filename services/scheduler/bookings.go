package scheduler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/availability"
	"github.com/ringback/ringback/libs/clock"
	"github.com/ringback/ringback/libs/eventstore"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/scheduler/schedule"
	"github.com/ringback/ringback/services/scheduler/slot"
)

// places is the read model of the places callbacks hold in the slot
// streams, and of those to give back: a place is released once its
// callback's schedule, after the take, says the callback is no longer
// pending in the bucket (fired, cancelled, expired, moved elsewhere). It
// folds both prefixes in store order; the take is always appended before
// the schedule that names the bucket (book.go), so a schedule event seen
// after a take is about the place.
type places struct {
	mu sync.Mutex
	// held is each callback's latest place.
	held map[string]holding
	// release are the places to give back, until the releaser has
	// written them (or their SlotReleased, by another replica, is
	// folded); a release of a place taken again since is a no-op
	// (slot.Decide), so replicas writing the same ones do no harm.
	release map[placeKey]int64 // -> the take to release
	// names interns service names: one copy per service, not per place.
	names map[string]string
	// bucketEnd is the end of a service's bucket starting at start.
	bucketEnd func(service string, start time.Time) time.Time
}

type holding struct {
	service    string
	start, end int64 // unix seconds
	take       int64
}

type placeKey struct {
	id, service string
	start       int64
}

func newPlaces(bucketEnd func(string, time.Time) time.Time) *places {
	return &places{held: map[string]holding{}, release: map[placeKey]int64{}, names: map[string]string{}, bucketEnd: bucketEnd}
}

// slotEvent folds one event of a slot stream.
func (p *places) slotEvent(r eventstore.RecordedEvent, e proto.Message) {
	service, start, err := availability.ParseStream(r.Stream)
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	name, ok := p.names[service]
	if !ok {
		name = strings.Clone(service)
		p.names[name] = name
	}
	switch e := e.(type) {
	case *callbackv1.SlotTaken:
		id := e.CallbackId
		if old, ok := p.held[id]; ok && (old.service != name || old.start != start) {
			// A new place elsewhere: the schedule will name it, so the old
			// one is free.
			p.release[placeKey{id, old.service, old.start}] = old.take
		}
		delete(p.release, placeKey{id, name, start}) // taken again: keep it
		end := p.bucketEnd(name, time.Unix(start, 0)).Unix()
		p.held[id] = holding{service: name, start: start, end: end, take: e.Take}
	case *callbackv1.SlotReleased:
		k := placeKey{e.CallbackId, name, start}
		if t, ok := p.release[k]; ok && t == e.Take {
			delete(p.release, k)
		}
		if h, ok := p.held[e.CallbackId]; ok && h.service == name && h.start == start && h.take == e.Take {
			delete(p.held, e.CallbackId)
		}
	}
}

// scheduleEvent folds what a schedule event made of a callback.
func (p *places) scheduleEvent(id string, e proto.Message, due time.Time, isPending bool) {
	switch e.(type) {
	case *callbackv1.CallbackScheduled, *callbackv1.CallbackRescheduled, *callbackv1.CallbackDue,
		*callbackv1.CallbackUnscheduled, *callbackv1.CallbackExpired:
	default:
		return // says nothing of the due time
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.held[id]
	if !ok {
		return
	}
	if isPending && !due.Before(time.Unix(h.start, 0)) && due.Before(time.Unix(h.end, 0)) {
		return // pending in its bucket: the place is its own
	}
	delete(p.held, id)
	p.release[placeKey{id, h.service, h.start}] = h.take
}

// toRelease are the places to give back now.
func (p *places) toRelease() map[placeKey]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[placeKey]int64, len(p.release))
	for k, t := range p.release {
		out[k] = t
	}
	return out
}

// forget drops a release that needs no event.
func (p *places) forget(k placeKey, take int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.release[k] == take {
		delete(p.release, k)
	}
}

// applyBookings folds a slot stream's event into the bookings and places.
func (s *Service) applyBookings(r eventstore.RecordedEvent, e proto.Message) {
	if strings.HasPrefix(r.Stream, availability.StreamPrefix) {
		s.bookings.Apply(r, e)
		s.places.slotEvent(r, e)
	}
}

// applySchedule folds a schedule event into pending and the places.
func (s *Service) applySchedule(r eventstore.RecordedEvent, e proto.Message) {
	if !strings.HasPrefix(r.Stream, schedule.StreamPrefix) {
		return
	}
	id, due, isPending := s.pending.apply(r, e)
	s.places.scheduleEvent(id, e, due, isPending)
}

// bucketEnd is the end of service's bucket starting at start, with the
// service's capacity as configured now; without one, an hour (a place is
// only ever taken with one).
func (s *Service) bucketEnd(service string, start time.Time) time.Time {
	svc := s.service(service)
	if svc.Capacity == nil {
		return start.Add(time.Hour)
	}
	return availability.BucketEnd(start, svc.Hours.Location(), svc.Capacity.Bucket)
}

var slotAggregate = eventstore.Aggregate[slot.State]{Evolve: slot.Evolve}

// releaseWorkers bounds the releases in flight: a burst of callbacks
// falling due at once releases as many places, which should share the
// store's syncs rather than queue behind each other.
const releaseWorkers = 16

// releasePace batches releases: a place given back half a second late only
// makes a bucket look fuller for that long (never overbooked), while a
// burst of callbacks falling due together is released in one append per
// bucket instead of one per callback, off the timer's way. Real time, like
// retryAfter: it paces store work, not a schedule.
const releasePace = 500 * time.Millisecond

// releaser gives back the places of callbacks that left their bucket. It
// runs on every replica once its view is whole; replicas releasing the same
// place write it once (the cause names the place and the take).
func (s *Service) releaser(ctx context.Context) error {
	for {
		changed := s.proj.Changed()
		if s.proj.Ready() == nil {
			if failed := s.releaseAll(ctx); failed && !clock.Sleep(ctx, retryAfter) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		if s.places.hasReleases() && !clock.Sleep(ctx, releasePace) {
			return nil
		}
	}
}

// hasReleases says whether some place waits to be given back.
func (p *places) hasReleases() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.release) > 0
}

// releaseAll writes every pending release, one append per bucket, from a
// bounded pool, and waits for them; failed says some could not be written
// (they stay, for the next pass).
func (s *Service) releaseAll(ctx context.Context) (failed bool) {
	todo := s.places.toRelease()
	if len(todo) == 0 {
		return false
	}
	type bucketKey struct {
		service string
		start   int64
	}
	buckets := map[bucketKey]map[string]int64{}
	for k, take := range todo {
		b := bucketKey{k.service, k.start}
		if buckets[b] == nil {
			buckets[b] = map[string]int64{}
		}
		buckets[b][k.id] = take
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		work = make(chan bucketKey)
	)
	for range min(releaseWorkers, len(buckets)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				places := buckets[b]
				stream := availability.Stream(b.service, time.Unix(b.start, 0))
				// Any replica may write any subset: Decide releases only
				// what is still held by that take, so the cause need only
				// be unique enough to tell the appends apart.
				cause := eventstore.Cause{ID: "release:" + stream + ":" + uuid.NewString()}
				_, err := eventstore.Execute(ctx, s.deps.Store, stream, slotAggregate, cause, func(st slot.State) ([]proto.Message, error) {
					return slot.Decide(st, slot.ReleaseAll{Places: places, At: s.deps.Clock.Now(),
						Reason: "left the bucket: fell due, cancelled, expired or moved"})
				})
				if err != nil {
					if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
						s.deps.Log.Error("release places; retrying", "stream", stream, "places", len(places), "err", err)
					}
					mu.Lock()
					failed = true
					mu.Unlock()
					continue
				}
				// Written now, by another replica, or taken again since:
				// nothing left to give back here.
				for id, take := range places {
					s.places.forget(placeKey{id, b.service, b.start}, take)
				}
			}
		}()
	}
	for b := range buckets {
		work <- b
	}
	close(work)
	wg.Wait()
	return failed
}
