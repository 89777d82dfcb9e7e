package mediagateway

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/inbox"
	"github.com/ringback/ringback/libs/lifecycle"
	"github.com/ringback/ringback/services/media-gateway/telephony"
)

// How gateway instances share calls (README, "How ringback scales"):
//
//   - Every instance holds a heartbeat lease in the store,
//     media-gateway-<instance>, renewed every third of its ttl. It owns the
//     calls it placed: DialStarted records the instance and the lease's
//     generation, and every write it makes to a call's stream carries the
//     lease as a fence, so that once the lease has passed on, the store
//     refuses the deposed instance's writes.
//   - New calls spread through the consumer group: whichever instance gets
//     a DialRequested records DialStarted with expected revision "no
//     stream" and dials only if that append made it the owner; a
//     redelivered DialRequested finds the stream and dials nothing.
//   - A control request (hold, DTMF, hang-up, transfer...) may reach any
//     instance; one that does not own the call forwards it through the
//     call's stream (forward.go), which the owner tails.
//   - A call is lost only when its owner's lease has expired by the
//     store's clock: a survivor takes the lease over (AcquireLease, so only
//     one does, and the generation grows: the dead owner is fenced), sends
//     BYE on every leg from the dialogs recorded in the call's events, and
//     records the call ended (takeover.go).
//   - On SIGTERM an instance drains: not ready at once, no new call (a
//     DialRequested is handed back to the group), its calls go on for the
//     grace period, then it hangs up the rest and releases its lease.

// errDraining hands a DialRequested back to the bus: it wraps
// context.Canceled, which the inbox neither retries nor poisons, so the
// message is not acknowledged and another instance of the group gets it.
var errDraining = fmt.Errorf("gateway draining, no new calls: %w", context.Canceled)

// Reasons of the end of a call the gateway ended itself, in words for the
// log (end_reason GATEWAY_STOPPED and CALL_LOST say them to agent-session);
// CallLost says who died and who hung up.
const (
	// ReasonDrained ends the calls still up when a stopping gateway's
	// grace period is over.
	ReasonDrained = telephony.ReasonGatewayStopped
	// ReasonLost ends a call whose owner died, hung up by another instance.
	ReasonLost = "gateway restarted"
	// endDrained is ReasonDrained as the SIP adapter takes it.
	endDrained = telephony.EndGatewayStopped
)

// errCrashed: a crashed instance (tests' kill -9) writes nothing.
var errCrashed = errors.New("gateway crashed")

var instanceRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func validInstance(id string) bool { return instanceRE.MatchString(id) }

// LeaseName is the heartbeat lease of a gateway instance.
func LeaseName(instance string) string { return "media-gateway-" + instance }

// Instance is this gateway instance's id.
func (s *Service) Instance() string { return s.instance }

func (s *Service) currentLease() eventstore.Lease {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	return s.lease
}

func (s *Service) setLease(l eventstore.Lease) {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	s.lease = l
}

// fence makes ctx's appends fail once this instance's lease has passed on.
func (s *Service) fence(ctx context.Context) context.Context {
	return eventstore.WithFence(ctx, s.currentLease())
}

// writeCtx is where a call's steps are recorded: not the handler's nor the
// call's context, since a hang-up must not stop us recording it (execute
// adds the fence).
func (s *Service) writeCtx() context.Context { return context.Background() }

// keeper is the SIP adapter's Keep (sip.Gateway): the stack stays up while
// the gateway drains.
type keeper interface{ Keep() (release func()) }

// Run takes the instance's lease, then consumes call commands until ctx is
// done; then it drains: no new call, live calls go on for the grace period,
// then the rest are hung up and the lease released. It returns an error
// when the lease was lost (another instance took the calls over).
func (s *Service) Run(ctx context.Context) error {
	if s.own != nil {
		return s.own.run(ctx, s.run)
	}
	return s.run(ctx)
}

func (s *Service) run(ctx context.Context) error {
	release := func() {}
	if k, ok := s.deps.Dialer.(keeper); ok {
		release = k.Keep()
	}
	defer release()
	defer s.stop()

	lease, err := s.acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	s.setLease(lease)
	s.deps.Log.Info("gateway instance up", "instance", s.instance, "lease", lease.Name, "generation", lease.Generation)

	// The loops below outlive ctx: through the drain the owner still sees
	// the requests forwarded to it, renews its lease, and takes over.
	bg, stopBg := context.WithCancel(context.Background())
	defer stopBg()
	consume, stopConsuming := context.WithCancel(ctx)
	defer stopConsuming()
	defer context.AfterFunc(s.halt, stopConsuming)()
	bgDone := make(chan error, 1)
	go func() {
		err := lifecycle.Run(bg,
			func(ctx context.Context) error { return s.proj.Run(ctx, s.deps.Store) },
			s.heartbeat, s.takeovers, s.forwarded)
		stopConsuming() // the lease is lost or the store failed: take no more work
		bgDone <- err
	}()
	// The bus failing for a while is retried, not taken for a stop: a
	// gateway that drained for it would hang up its calls.
	err = lifecycle.Restarting(s.deps.Log, "inbox "+HandlerName, func(ctx context.Context) error {
		return inbox.Consume(ctx, s.deps.Subscribers, inbox.Config{Name: HandlerName, Topics: Topics, Only: Only, Log: s.deps.Log}, s.handle)
	})(consume)
	s.draining.Store(true)
	var bgErr error
	select {
	case bgErr = <-bgDone:
		bgDone = nil
	default:
		if !s.crashed.Load() {
			bgErr = s.drain(bgDone)
			if bgErr != nil {
				bgDone = nil
			}
		}
	}
	if s.crashed.Load() {
		// A dead process does nothing more; what it holds is freed when
		// Run is told to stop.
		<-ctx.Done()
	}
	// What is left is hung up; the calls record their end (fenced).
	s.stop()
	s.wg.Wait()
	if bgErr == nil && !s.crashed.Load() {
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if rerr := s.leases.ReleaseLease(rctx, s.currentLease()); rerr != nil {
			s.deps.Log.Warn("release lease", "lease", lease.Name, "err", rerr)
		}
		cancel()
	}
	stopBg()
	if bgDone != nil {
		bgErr = <-bgDone
	}
	return errors.Join(err, bgErr)
}

// acquire takes this instance's lease, waiting while another holder has it:
// an earlier run of the same instance id not yet expired, or a survivor
// hanging up that run's calls.
func (s *Service) acquire(ctx context.Context) (eventstore.Lease, error) {
	name := LeaseName(s.instance)
	for {
		l, err := s.leases.AcquireLease(ctx, name, s.holder, s.cfg.LeaseTTL)
		if err == nil {
			return l, nil
		}
		if ctx.Err() != nil {
			return eventstore.Lease{}, ctx.Err()
		}
		var held *eventstore.LeaseHeldError
		if errors.As(err, &held) {
			s.deps.Log.Info("waiting for our lease", "lease", name, "held_by", held.Holder, "until", held.Expires)
		} else {
			s.deps.Log.Warn("acquire lease", "lease", name, "err", err)
		}
		select {
		case <-ctx.Done():
			return eventstore.Lease{}, ctx.Err()
		case <-wallAfter(s.cfg.LeaseTTL / 3):
		}
	}
}

// heartbeat renews the lease every third of its ttl. A lost lease (another
// instance took our calls over: we were paused or cut off for a whole ttl)
// stops the instance: its writes are fenced off anyway.
func (s *Service) heartbeat(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-wallAfter(s.cfg.LeaseTTL / 3):
		}
		if s.crashed.Load() {
			return nil
		}
		if s.paused.Load() {
			continue
		}
		cur := s.currentLease()
		l, err := s.leases.RenewLease(ctx, cur, s.cfg.LeaseTTL)
		switch {
		case errors.Is(err, eventstore.ErrLeaseLost):
			return fmt.Errorf("media-gateway %s: %w: another instance took its calls over", s.instance, err)
		case err != nil && ctx.Err() == nil:
			// The store is unreachable: keep trying; the fence keeps a
			// taker's record safe from ours meanwhile.
			s.deps.Log.Warn("renew lease", "lease", cur.Name, "err", err)
		case err == nil:
			s.setLease(l)
		}
	}
}

// drain lets the live calls go on until they end or the grace period is
// over, or the lease is lost (its error).
func (s *Service) drain(bgDone <-chan error) error {
	n := s.calls.liveCount()
	if n == 0 {
		return nil
	}
	s.deps.Log.Info("draining: no new calls, waiting for live ones", "calls", n, "grace", s.cfg.DrainGrace)
	grace := wallAfter(s.cfg.DrainGrace)
	for {
		idle := s.calls.changed()
		if s.calls.liveCount() == 0 {
			s.deps.Log.Info("drained: every call ended")
			return nil
		}
		select {
		case <-idle:
		case <-grace:
			s.deps.Log.Warn("drain grace over: hanging up", "calls", s.calls.liveCount())
			return nil
		case err := <-bgDone:
			return errors.Join(err, errors.New("drain cut short"))
		}
	}
}

// wallAfter paces the lease and the drain by the wall clock, not the
// injected one: the store judges leases by its own clock (libs/eventstore),
// and Kubernetes' grace period is wall time too.
func wallAfter(d time.Duration) <-chan time.Time { return time.After(d) }
