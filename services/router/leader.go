package router

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
)

// leaseName is the dispatcher's lease in the store; never renamed.
const leaseName = "router-dispatcher"

// lead runs the dispatcher on whichever replica holds the dispatcher lease;
// the others stand by, watching the lease, and one of them takes over once
// it expires. Every write the dispatcher makes carries the lease as a fence
// (eventstore.WithFence), so a leader that paused past its lease, and was
// replaced, has its writes refused by the store: of two dispatchers, only
// the current one's decisions land. Replicas all run the inbox and the
// read model, so any of them records an agent's answer.
//
// The lease is timed on the wall clock, as retries are: it paces the
// infrastructure, not business time.
func (s *Service) lead(ctx context.Context) error {
	leases, ok := s.deps.Store.(eventstore.Leases)
	if !ok {
		return fmt.Errorf("router: the %T store grants no leases", s.deps.Store)
	}
	holder := s.cfg.InstanceID
	if holder == "" {
		holder = uuid.NewString()
	}
	ttl := s.cfg.LeaseTTL
	wait := retryMin
	for ctx.Err() == nil {
		l, err := leases.AcquireLease(ctx, leaseName, holder, ttl)
		var held *eventstore.LeaseHeldError
		switch {
		case errors.As(err, &held):
			s.leader.Set(0)
			// Wake a little after the holder's expiry, and at least every
			// third of a ttl, since its clock (the store's) is not ours.
			d := min(time.Until(held.Expires)+10*time.Millisecond, ttl/3)
			if !sleep(ctx, max(d, 10*time.Millisecond)) {
				return nil
			}
			continue
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			s.deps.Log.WarnContext(ctx, "dispatcher lease: store unavailable, retrying", "err", err, "in", wait)
			if !sleep(ctx, wait) {
				return nil
			}
			wait = min(wait*2, retryMax)
			continue
		}
		wait = retryMin
		s.takeovers.Inc()
		s.leader.Set(1)
		s.deps.Log.InfoContext(ctx, "dispatcher lease taken: this replica dispatches", "holder", holder, "generation", l.Generation)
		err = s.dispatchUnder(ctx, leases, l)
		s.leader.Set(0)
		if err != nil {
			return err
		}
	}
	return nil
}

// dispatchUnder dispatches while l is held: a renewer keeps it, and the
// dispatcher stops as soon as the lease is lost or cannot be renewed in
// time. On a clean stop the lease is released, so a standby takes over at
// once instead of after the ttl (a rolling update).
func (s *Service) dispatchUnder(ctx context.Context, leases eventstore.Leases, l eventstore.Lease) error {
	dctx, stop := context.WithCancel(eventstore.WithFence(ctx, l))
	defer stop()
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		s.renew(dctx, leases, l, stop)
	}()
	err := s.dispatch(dctx)
	stop()
	<-renewed
	if ctx.Err() != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if rerr := leases.ReleaseLease(rctx, l); rerr != nil {
			s.deps.Log.Warn("dispatcher lease: release failed; a standby takes over when it expires", "err", rerr)
		}
		return nil
	}
	if errors.Is(err, eventstore.ErrFenced) {
		s.deps.Log.WarnContext(ctx, "dispatcher deposed: its lease passed to another replica", "generation", l.Generation)
		return nil
	}
	return err
}

// renew extends l every third of its ttl until ctx ends. It calls stop
// when the lease is lost, or when it could not be renewed and the time
// it was last known to be ours (by our clock, started before asking) runs
// out: past that, another replica may hold it.
func (s *Service) renew(ctx context.Context, leases eventstore.Leases, l eventstore.Lease, stop context.CancelFunc) {
	ttl := s.cfg.LeaseTTL
	safeUntil := time.Now().Add(ttl - ttl/10)
	for {
		if !sleep(ctx, min(ttl/3, time.Until(safeUntil))) {
			return
		}
		if !time.Now().Before(safeUntil) {
			s.deps.Log.WarnContext(ctx, "dispatcher lease could not be renewed in time: standing down", "generation", l.Generation)
			stop()
			return
		}
		asked := time.Now()
		next, err := leases.RenewLease(ctx, l, ttl)
		switch {
		case err == nil:
			l, safeUntil = next, asked.Add(ttl-ttl/10)
		case errors.Is(err, eventstore.ErrLeaseLost):
			s.deps.Log.WarnContext(ctx, "dispatcher lease lost: standing down", "generation", l.Generation)
			stop()
			return
		case ctx.Err() != nil:
			return
		default:
			s.deps.Log.WarnContext(ctx, "dispatcher lease renewal failed, retrying", "err", err)
		}
	}
}
