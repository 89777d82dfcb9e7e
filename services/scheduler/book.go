package scheduler

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/availability"
	"github.com/ringback/ringback/libs/callwindow"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/serviceconf"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/scheduler/schedule"
	"github.com/ringback/ringback/services/scheduler/slot"
)

// candidates bounds the slots tried after the wished one is full: each is
// one read and one append; more than a few lost races in a row means the
// service is booked out around that time.
const candidates = 8

// book takes a place for a new callback of a service with a capacity, in
// the bucket of its due time, before the schedule names that time. When the
// bucket is full or closed (a race intake could not see, or a service that
// moves such requests), it takes the nearest slot with room instead and
// answers why, for the callback's history. nil, nil: no place is needed
// (no capacity, due at once, or scheduled already: a redelivery).
func (s *Service) book(ctx context.Context, cause string, c schedule.Schedule) (*callbackv1.CapacityMove, error) {
	svc := s.service(c.Request.GetService())
	if svc.Capacity == nil || svc.Capacity.Bucket <= 0 {
		return nil, nil
	}
	l, err := eventstore.Load(ctx, s.deps.Store, schedule.Stream(c.ID), aggregate)
	if err != nil {
		return nil, err
	}
	if l.State.Status != schedule.Unknown {
		return nil, nil // the schedule names its place already
	}
	var desired time.Time
	if d := c.Request.GetDesiredTime(); d != nil {
		desired = d.AsTime()
	}
	due, _ := schedule.DueTimeIn(desired, c.At, c.Hours, c.Window, c.Request)
	if !due.After(c.At) {
		return nil, nil // fires at once: it holds no place
	}
	return s.place(ctx, cause, c.ID, svc, due, c.Request, c.Window, c.At)
}

// rebook takes a place for a callback the contact (or an API client)
// reschedules, in the bucket of the due time schedule.Decide gives r, as
// book does for a new one: moved to the nearest slot with room when that
// bucket is full or closed. nil, nil: no place is needed (no capacity, the
// command refused or due at once).
func (s *Service) rebook(ctx context.Context, cause string, st schedule.State, r schedule.Reschedule) (*callbackv1.CapacityMove, error) {
	svc := s.service(st.Request.GetService())
	if svc.Capacity == nil || svc.Capacity.Bucket <= 0 {
		return nil, nil
	}
	due, pending := dueOf(st, r)
	if !pending {
		return nil, nil
	}
	return s.place(ctx, cause, st.ID, svc, due, st.Request, r.Window, r.At)
}

// place takes a place for callback id in the bucket of due, or in the
// nearest slot with room, saying why it moved.
func (s *Service) place(ctx context.Context, cause, id string, svc serviceconf.Service, due time.Time,
	req *callbackv1.CallbackRequest, window callwindow.Window, now time.Time) (*callbackv1.CapacityMove, error) {
	loc, size := svc.Hours.Location(), svc.Capacity.Bucket
	bucket := availability.BucketStart(due, loc, size)
	capacity := svc.Capacity.PerBucket[bucket.In(loc).Weekday()]
	err := s.take(ctx, cause, id, svc.Name, bucket, capacity, now)
	var full *slot.FullError
	if !errors.As(err, &full) {
		return nil, err // taken (nil), or the store failed
	}
	what := fmt.Sprintf("slot %s–%s %s full (%d of %d)", bucket.In(loc).Format("Mon 2 Jan 15:04"),
		availability.BucketEnd(bucket, loc, size).In(loc).Format("15:04"), loc, full.Held, full.Capacity)
	if capacity == 0 {
		what = fmt.Sprintf("slot %s %s closed (no capacity that day)", bucket.In(loc).Format("Mon 2 Jan 15:04"), loc)
	}
	q := availability.Query{Hours: svc.Hours, Capacity: *svc.Capacity, From: now, To: now.Add(svc.BookAhead),
		Window: window, Zones: callwindow.Zones(req.GetPhoneNumber(), req.GetTimezone(), svc.Hours.Loc)}
	near := availability.Nearest(q, s.bookings.Of(svc.Name), due, candidates)
	// The one nearest the wish is the one to try first.
	availability.SortByNearness(near, due)
	for _, sl := range near {
		if sl.Bucket.Equal(bucket) {
			continue
		}
		err := s.take(ctx, cause, id, svc.Name, sl.Bucket, sl.Capacity, now)
		if errors.Is(err, slot.ErrFull) {
			continue // taken meanwhile by another request
		}
		if err != nil {
			return nil, err
		}
		at := sl.Start // due falls in the full bucket, so never inside sl
		return &callbackv1.CapacityMove{From: timestamppb.New(due), SlotStart: timestamppb.New(at),
			Reason: what + ": moved to " + at.In(loc).Format("Mon 2 Jan 15:04") + " " + loc.String()}, nil
	}
	// Booked out around the wish: kept at it, over capacity, rather than
	// lost; the history says so for the planners.
	s.deps.Log.Warn("no slot with room near the wished time; scheduled over capacity", "callback", id, "service", svc.Name)
	return &callbackv1.CapacityMove{From: timestamppb.New(due), SlotStart: timestamppb.New(due),
		Reason: what + ": no slot with room within book_ahead nearby, kept over capacity"}, nil
}

// take appends a place for the callback in the bucket, or answers a
// *slot.FullError. Execute retries on a conflict, so of two replicas
// racing for the last place the second reads the first's take and is
// refused.
func (s *Service) take(ctx context.Context, cause, id, service string, bucket time.Time, capacity int, now time.Time) error {
	stream := availability.Stream(service, bucket)
	_, err := eventstore.Execute(ctx, s.deps.Store, stream, slotAggregate, eventstore.Cause{ID: cause, Correlation: id},
		func(st slot.State) ([]proto.Message, error) {
			return slot.Decide(st, slot.Take{CallbackID: id, Capacity: capacity, At: now})
		})
	return err
}

// hold takes a place for a callback an agent reschedules or the retry
// policy tries again, in the bucket of its new due time, without a
// capacity check: the agent promised the contact that time, the policy
// owns a retry's, so it is counted (availability shows it, requests are
// refused around it) but never refused or moved. The due time is the one
// schedule.Decide gives cmd: it is pure, so asking it before the command
// runs has no effect, and the two cannot drift apart. Nothing is held when
// the command would not leave the callback pending (refused, or due at
// once): a place must not outlive its reason.
func (s *Service) hold(ctx context.Context, cause string, st schedule.State, cmd any) error {
	svc := s.service(st.Request.GetService())
	if svc.Capacity == nil || svc.Capacity.Bucket <= 0 {
		return nil
	}
	due, pending := dueOf(st, cmd)
	if !pending {
		return nil
	}
	bucket := availability.BucketStart(due, svc.Hours.Location(), svc.Capacity.Bucket)
	return s.take(ctx, cause, st.ID, svc.Name, bucket, math.MaxInt32, s.deps.Clock.Now())
}

// dueOf is the due time schedule.Decide gives cmd, and whether the
// callback is left pending then (not refused, not due at once).
func dueOf(st schedule.State, cmd any) (due time.Time, pending bool) {
	events, err := schedule.Decide(st, cmd)
	if err != nil {
		return due, false // refused: the command's own run says why
	}
	for _, e := range events {
		switch e := e.(type) {
		case *callbackv1.CallbackRescheduled:
			due, pending = e.DueAt.AsTime(), true
		case *callbackv1.CallbackDue:
			pending = false
		}
	}
	return due, pending
}
