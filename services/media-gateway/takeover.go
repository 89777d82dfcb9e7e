package mediagateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/services/media-gateway/call"
	"github.com/ringback/ringback/services/media-gateway/telephony"
)

// Lost calls. Every third of the lease ttl each instance looks at the
// owners of the unfinished calls in its read model. An owner whose lease
// has expired by the store's clock is dead: the first survivor to take its
// lease over (AcquireLease: one wins, the generation grows, the dead
// owner's writes are fenced from then on) hangs up each of its calls: BYE
// on every answered leg from the dialog recorded in the call's events
// (CANCEL on a ringing one), then CallLost and CallEnded (or DialFailed)
// under the taken lease's fence.
// Then it releases the lease, so that the instance may come back under its
// id. Its own calls of an earlier run (a restart under the same
// --media.instance-id) are lost the same way, under its own new lease.
//
// A leg that rings is recorded too (its INVITE, from the provisional
// response): it is cancelled (CANCEL built by hand, with the INVITE's top
// Via) instead. What is not recorded cannot be ended: an INVITE sent just
// before the owner died, not answered even provisionally, rings until the
// phone's own timeout; an answer nobody ACKs is ended by the phone itself
// (RFC 3261 13.3.1.4).

// byeParallel bounds the lost calls hung up at once: a dead instance may
// have held hundreds.
const byeParallel = 32

// takeovers scans for lost calls until ctx is done.
func (s *Service) takeovers(ctx context.Context) error {
	if err := s.proj.WaitUntil(ctx, func() bool { return s.proj.Ready() == nil }); err != nil {
		return nil //nolint:nilerr // ctx done: stopping is not an error
	}
	for {
		if !s.crashed.Load() {
			s.scan(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wallAfter(s.cfg.LeaseTTL / 3):
		}
	}
}

// scan takes over every dead owner's calls once.
func (s *Service) scan(ctx context.Context) {
	mine := s.currentLease()
	for owner, sts := range s.calls.byOwner() {
		if ctx.Err() != nil {
			return
		}
		if owner == s.instance {
			if lost := s.lostTo(sts); len(lost) > 0 {
				s.hangUpLost(ctx, mine, owner, lost, time.Time{})
			}
			continue
		}
		l, ok, now, err := s.leases.ReadLease(ctx, LeaseName(owner))
		if err != nil {
			s.deps.Log.Warn("read lease", "lease", LeaseName(owner), "err", err)
			continue
		}
		if ok && now.Before(l.Expires) {
			continue // alive
		}
		taken, err := s.leases.AcquireLease(ctx, LeaseName(owner), s.holder, s.cfg.LeaseTTL)
		if errors.Is(err, eventstore.ErrLeaseHeld) {
			continue // another survivor is at it, or the owner came back
		}
		if err != nil {
			s.deps.Log.Warn("take over lease", "lease", LeaseName(owner), "err", err)
			continue
		}
		expired := time.Time{}
		if ok {
			expired = l.Expires
		}
		s.hangUpLost(ctx, taken, owner, s.lostTo(sts), expired)
		if err := s.leases.ReleaseLease(ctx, taken); err != nil {
			s.deps.Log.Warn("release taken lease", "lease", taken.Name, "err", err)
		}
	}
}

// lostTo are the calls lost now that this process holds their owner's
// lease: all but its own.
func (s *Service) lostTo(sts []call.State) []call.State {
	var out []call.State
	for _, st := range sts {
		if st.LostTo(s.holder) {
			out = append(out, st)
		}
	}
	return out
}

// hangUpLost hangs up the calls of owner under lease taken, renewing it
// meanwhile. expired is when the owner's lease expired (zero: unknown),
// for the takeover time.
func (s *Service) hangUpLost(ctx context.Context, taken eventstore.Lease, owner string, lost []call.State, expired time.Time) {
	began := time.Now()
	var mu sync.Mutex
	lease := taken
	stopRenew := s.keepTaken(ctx, &mu, &lease)
	g := new(errgroup.Group)
	g.SetLimit(byeParallel)
	var ended, failed int
	for _, st := range lost {
		g.Go(func() error {
			mu.Lock()
			l := lease
			mu.Unlock()
			err := s.loseCall(ctx, l, owner, st.ID)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				s.deps.Log.Error("hang up lost call", "call", st.ID, "owner", owner, "err", err)
				return nil
			}
			ended++
			return nil
		})
	}
	_ = g.Wait()
	stopRenew()
	took := time.Since(began)
	var sinceExpiry time.Duration
	if !expired.IsZero() {
		_, _, now, err := s.leases.ReadLease(ctx, taken.Name)
		if err == nil {
			sinceExpiry = now.Sub(expired)
			s.takeover.Observe(sinceExpiry.Seconds())
		}
	}
	s.deps.Log.Warn("took over a lost gateway's calls", "owner", owner, "lease", taken.Name, "generation", taken.Generation,
		"calls", len(lost), "ended", ended, "failed", failed, "hung_up_in", took, "since_lease_expiry", sinceExpiry)
}

// keepTaken renews a taken lease every third of its ttl until stopped.
func (s *Service) keepTaken(ctx context.Context, mu *sync.Mutex, lease *eventstore.Lease) (stop func()) {
	if lease.Name == LeaseName(s.instance) {
		return func() {} // our own: the heartbeat renews it
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-rctx.Done():
				return
			case <-wallAfter(s.cfg.LeaseTTL / 3):
			}
			mu.Lock()
			cur := *lease
			mu.Unlock()
			l, err := s.leases.RenewLease(rctx, cur, s.cfg.LeaseTTL)
			if err != nil {
				s.deps.Log.Warn("renew taken lease", "lease", cur.Name, "err", err)
				continue
			}
			mu.Lock()
			*lease = l
			mu.Unlock()
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// loseCall hangs up one lost call: BYE on its legs from the stream's
// latest record, then CallLost and its end under the taken lease's fence.
func (s *Service) loseCall(ctx context.Context, taken eventstore.Lease, owner, id string) error {
	if s.crashed.Load() {
		return errCrashed
	}
	loaded, err := eventstore.Load(ctx, s.deps.Store, call.Stream(id), calls_)
	if err != nil {
		return err
	}
	st := loaded.State
	if !st.LostTo(s.holder) {
		return nil // ended meanwhile
	}
	hungUp := s.byeLegs(ctx, id, st)
	reason := ReasonLost
	cause := eventstore.Cause{ID: fmt.Sprintf("lost:%s:%s", id, s.holder), Correlation: s.correlationOf(ctx, id)}
	fctx := eventstore.WithFence(ctx, taken)
	_, err = eventstore.Execute(fctx, s.deps.Store, call.Stream(id), calls_, cause, func(st call.State) ([]proto.Message, error) {
		return call.Decide(st, call.Lose{By: s.instance, Holder: s.holder, Generation: taken.Generation, HungUp: hungUp, Reason: reason,
			At: s.deps.Clock.Now()})
	})
	if err != nil {
		return err
	}
	s.lost.Inc()
	return nil
}

// byeLegs sends BYE on every answered leg (CANCEL on a ringing one) at
// once, and says which legs it was sent on (answered or not: a peer may
// answer the dead gateway's address instead of our Via).
func (s *Service) byeLegs(ctx context.Context, id string, st call.State) []string {
	h, ok := s.deps.Dialer.(telephony.Legs)
	legs := st.Legs()
	if !ok || len(legs) == 0 {
		return nil
	}
	bctx, cancel := context.WithTimeout(ctx, byeTimeout)
	defer cancel()
	var (
		mu   sync.Mutex
		done []string
		wg   sync.WaitGroup
	)
	for role, l := range legs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			end, what := h.Bye, "bye"
			if l.Early {
				end, what = func(ctx context.Context, d telephony.Dialog) error {
					err := h.Cancel(ctx, d)
					// It may have answered as the owner died: a BYE on the
					// dialog its ringing opened ends that too (481 if not).
					if berr := h.Bye(ctx, d); berr != nil && !errors.Is(berr, telephony.ErrIncompleteDialog) {
						s.deps.Log.Debug("bye after cancel on a lost leg", "call", id, "leg", role, "err", berr)
					}
					return err
				}, "cancel"
			}
			err := end(bctx, dialogOf(role, l))
			if err != nil {
				s.deps.Log.Warn(what+" on a lost leg", "call", id, "leg", role, "err", err)
			}
			if err != nil && !errors.Is(err, telephony.ErrNoAnswer) {
				return // not even sent
			}
			mu.Lock()
			done = append(done, role)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(done)
	return done
}

// byeTimeout bounds the BYEs on a lost call's legs: a live peer answers in
// milliseconds, a dead one never.
const byeTimeout = 5 * time.Second

// correlationOf is the callback a call belongs to, as its first event
// says, so that the events closing a lost call carry it like the others.
func (s *Service) correlationOf(ctx context.Context, id string) string {
	recs, err := s.deps.Store.ReadStream(ctx, call.Stream(id), 0)
	if err != nil || len(recs) == 0 {
		return ""
	}
	return recs[0].Metadata[eventstore.MetaCorrelation]
}
