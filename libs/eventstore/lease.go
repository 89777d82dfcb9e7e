package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Lease is a named, expiring, exclusive right to some work (the router's
// dispatcher, a media gateway's calls), held by one holder at a time.
// Generation grows each time the lease changes hands; it is the fencing
// token a holder's writes carry (WithFence), so that a holder that paused
// past its expiry, and was replaced, cannot write any more.
type Lease struct {
	Name       string
	Holder     string
	Generation uint64
	Expires    time.Time // by the store's clock where it has one (PostgreSQL)
}

// Leases is what a store offers to grant leases beside its events, so that
// the store that refuses a deposed holder's write is the one that knows
// who holds the lease. Every adapter implements it.
//
// All methods are safe for concurrent use. Expiry is judged by the store's
// own clock where it has one, so holders' clocks need not agree.
type Leases interface {
	// AcquireLease takes name for holder for ttl when it is free, expired,
	// or already the holder's (then it is renewed, same generation). When
	// another holder has it, the error matches ErrLeaseHeld (a
	// *LeaseHeldError says who, and until when).
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error)
	// RenewLease extends l by ttl if l.Holder still holds it at
	// l.Generation; otherwise the error matches ErrLeaseLost.
	RenewLease(ctx context.Context, l Lease, ttl time.Duration) (Lease, error)
	// ReleaseLease gives l up before it expires (a clean stop), if it is
	// still held at l.Generation; otherwise it does nothing.
	ReleaseLease(ctx context.Context, l Lease) error
	// ReadLease says who holds name now; ok is false for a lease never
	// taken. An expired lease is returned as it is: compare Expires.
	ReadLease(ctx context.Context, name string) (l Lease, ok bool, now time.Time, err error)
}

// ErrLeaseHeld is returned by AcquireLease when another holder has the lease.
var ErrLeaseHeld = errors.New("lease held by another holder")

// ErrLeaseLost is returned by RenewLease when the lease has passed on.
var ErrLeaseLost = errors.New("lease lost")

// ErrFenced is returned by Append when the context carries a fence whose
// lease has passed to a newer generation: the writer was deposed.
var ErrFenced = errors.New("write fenced off: the lease passed to a newer holder")

// LeaseHeldError says who holds a lease.
type LeaseHeldError struct {
	Name, Holder string
	Expires      time.Time
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("lease %s held by %s until %s", e.Name, e.Holder, e.Expires.Format(time.RFC3339Nano))
}

// Is makes errors.Is(err, ErrLeaseHeld) true.
func (e *LeaseHeldError) Is(target error) bool { return target == ErrLeaseHeld }

// Fence is the lease a write is made under.
type Fence struct {
	Name       string
	Generation uint64
}

type fenceKey struct{}

// WithFence returns a context whose appends the store refuses (ErrFenced)
// once lease l has passed to a newer generation. The check is atomic with
// the append on every adapter but KurrentDB, where it is made just before
// (see the esdb package).
func WithFence(ctx context.Context, l Lease) context.Context {
	return context.WithValue(ctx, fenceKey{}, Fence{Name: l.Name, Generation: l.Generation})
}

// FenceOf returns the fence ctx carries, if any; adapters call it in Append.
func FenceOf(ctx context.Context) (Fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	return f, ok
}
