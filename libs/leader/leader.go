// Package leader runs a piece of work on one replica at a time: the one
// that holds a lease in the event store (eventstore.Leases). The others
// stand by, watching the lease, and one of them takes over when it expires
// or is released. The work runs with a context carrying the lease as a
// fence (eventstore.WithFence), so that if its holder pauses past the
// lease and is replaced, the store refuses its writes.
//
// Leases pace the infrastructure, not business time: they run on the wall
// clock, never on an injected test clock. It must not import a service.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ringback/ringback/libs/clock"
	"github.com/ringback/ringback/libs/eventstore"
)

// Config says which lease to hold, as whom, and for how long.
type Config struct {
	Leases eventstore.Leases
	Name   string        // the lease, e.g. "router-dispatcher"; never renamed
	Holder string        // this replica, e.g. its pod name
	TTL    time.Duration // life of the lease unrenewed; renewed every third of it
	Log    *slog.Logger
	// OnChange, if set, is told when this replica starts and stops leading
	// (for a gauge); it must not block.
	OnChange func(leading bool, l eventstore.Lease)
}

// Retry bounds while the store does not answer.
const (
	retryMin = 50 * time.Millisecond
	retryMax = 2 * time.Second
)

// Run calls work whenever this replica holds the lease, until ctx ends.
// work's context ends when the lease is lost or cannot be renewed in time;
// an error of work that matches eventstore.ErrFenced means the same (it was
// deposed) and Run goes back to standing by. Any other error of work
// releases the lease, so a standby takes over at once, and Run returns it:
// the caller decides whether to contend again (lifecycle.Restarting, with
// its backoff). On ctx's end the lease is released too, so a standby takes
// over at once instead of after the TTL (a rolling update).
func Run(ctx context.Context, cfg Config, work func(ctx context.Context) error) error {
	if cfg.Leases == nil || cfg.Name == "" || cfg.Holder == "" || cfg.TTL <= 0 {
		return fmt.Errorf("leader %q: leases, name, holder and a positive ttl are required", cfg.Name)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	wait := retryMin
	for ctx.Err() == nil {
		l, err := cfg.Leases.AcquireLease(ctx, cfg.Name, cfg.Holder, cfg.TTL)
		var held *eventstore.LeaseHeldError
		switch {
		case errors.As(err, &held):
			// Wake a little after the holder's expiry, and at least every
			// third of a TTL: the expiry is by the store's clock, not ours.
			d := min(time.Until(held.Expires)+10*time.Millisecond, cfg.TTL/3)
			if !clock.Sleep(ctx, max(d, 10*time.Millisecond)) {
				return nil
			}
			continue
		case err != nil:
			if ctx.Err() != nil {
				return nil //nolint:nilerr // stopped: the store failing under the stop is the stop
			}
			cfg.Log.WarnContext(ctx, "lease: store unavailable, retrying", "lease", cfg.Name, "err", err, "in", wait)
			if !clock.Sleep(ctx, wait) {
				return nil
			}
			wait = min(wait*2, retryMax)
			continue
		}
		wait = retryMin
		cfg.Log.InfoContext(ctx, "lease taken: this replica leads", "lease", cfg.Name, "holder", cfg.Holder, "generation", l.Generation)
		if cfg.OnChange != nil {
			cfg.OnChange(true, l)
		}
		err = hold(ctx, cfg, l, work)
		if cfg.OnChange != nil {
			cfg.OnChange(false, l)
		}
		if err != nil {
			return fmt.Errorf("leader %q: %w", cfg.Name, err)
		}
	}
	return nil
}

// hold runs work while l is held.
func hold(ctx context.Context, cfg Config, l eventstore.Lease, work func(context.Context) error) error {
	wctx, stop := context.WithCancel(eventstore.WithFence(ctx, l))
	defer stop()
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		renew(wctx, cfg, l, stop)
	}()
	err := work(wctx)
	stop()
	<-renewed
	if ctx.Err() != nil {
		release(ctx, cfg, l)
		return nil
	}
	if err == nil || errors.Is(err, eventstore.ErrFenced) || errors.Is(err, context.Canceled) {
		cfg.Log.WarnContext(ctx, "lease lost: standing by", "lease", cfg.Name, "generation", l.Generation)
		return nil
	}
	// Failed while holding: a standby may do better than a retry here.
	release(ctx, cfg, l)
	return err
}

// release gives l up, so that a standby takes over at once instead of
// after the TTL; a store that does not answer leaves it to expire.
func release(ctx context.Context, cfg Config, l eventstore.Lease) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := cfg.Leases.ReleaseLease(rctx, l); err != nil {
		cfg.Log.Warn("lease: release failed; a standby takes over when it expires", "lease", cfg.Name, "err", err)
	}
}

// renew extends l every third of its TTL until ctx ends. It calls stop when
// the lease is lost, or when it could not be renewed and the time it was
// last known to be ours (by our clock, counted from before asking) runs
// out: past that, another replica may hold it.
func renew(ctx context.Context, cfg Config, l eventstore.Lease, stop context.CancelFunc) {
	safeUntil := time.Now().Add(cfg.TTL - cfg.TTL/10)
	for {
		if !clock.Sleep(ctx, min(cfg.TTL/3, time.Until(safeUntil))) {
			return
		}
		if !time.Now().Before(safeUntil) {
			cfg.Log.WarnContext(ctx, "lease could not be renewed in time: standing down", "lease", cfg.Name, "generation", l.Generation)
			stop()
			return
		}
		asked := time.Now()
		next, err := cfg.Leases.RenewLease(ctx, l, cfg.TTL)
		switch {
		case err == nil:
			l, safeUntil = next, asked.Add(cfg.TTL-cfg.TTL/10)
		case errors.Is(err, eventstore.ErrLeaseLost):
			cfg.Log.WarnContext(ctx, "lease lost: standing down", "lease", cfg.Name, "generation", l.Generation)
			stop()
			return
		case ctx.Err() != nil:
			return
		default:
			cfg.Log.WarnContext(ctx, "lease renewal failed, retrying", "lease", cfg.Name, "err", err)
		}
	}
}
