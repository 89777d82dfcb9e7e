package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ringback/ringback/libs/eventstore"
)

// Leases live in eventstore.leases and expire by the server's clock
// (clock_timestamp()), so pods whose clocks disagree still agree on who holds
// one. A fenced append checks the generation in its own transaction, with
// the lease row share-locked until it commits (see the append function): a
// takeover and a deposed holder's write cannot both succeed.

// AcquireLease implements eventstore.Leases.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (eventstore.Lease, error) {
	if err := leaseArgs(name, holder, ttl); err != nil {
		return eventstore.Lease{}, err
	}
	if s.closing.Err() != nil {
		return eventstore.Lease{}, fmt.Errorf("acquire lease %s: %w", name, eventstore.ErrClosed)
	}
	// The upsert takes the lease when it is free, expired or ours (a renewal
	// keeps the generation). When it takes nothing, read who holds it; if
	// that holder let go meanwhile, try again.
	for {
		var (
			gen     int64
			expires time.Time
		)
		err := s.leasePool.QueryRow(ctx, `
INSERT INTO eventstore.leases AS l (name, holder, generation, expires)
VALUES ($1, $2, 1, clock_timestamp() + $3 * interval '1 microsecond')
ON CONFLICT (name) DO UPDATE
   SET generation = CASE WHEN l.holder = excluded.holder AND l.expires > clock_timestamp()
                         THEN l.generation ELSE l.generation + 1 END,
       holder = excluded.holder, expires = excluded.expires
 WHERE l.holder = excluded.holder OR l.expires <= clock_timestamp()
RETURNING generation, expires`, name, holder, ttl.Microseconds()).Scan(&gen, &expires)
		if err == nil {
			return eventstore.Lease{Name: name, Holder: holder, Generation: uint64(gen), Expires: expires.UTC()}, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return eventstore.Lease{}, fmt.Errorf("acquire lease %s: %w", name, s.failed(ctx, err))
		}
		l, ok, now, err := s.ReadLease(ctx, name)
		if err != nil {
			return eventstore.Lease{}, fmt.Errorf("acquire lease %s: %w", name, err)
		}
		if ok && l.Holder != holder && now.Before(l.Expires) {
			return eventstore.Lease{}, &eventstore.LeaseHeldError{Name: name, Holder: l.Holder, Expires: l.Expires}
		}
	}
}

// RenewLease implements eventstore.Leases. An expired lease nobody took yet
// is still the holder's to renew: its generation has not moved, so nothing
// was fenced off meanwhile.
func (s *Store) RenewLease(ctx context.Context, l eventstore.Lease, ttl time.Duration) (eventstore.Lease, error) {
	if err := leaseArgs(l.Name, l.Holder, ttl); err != nil {
		return eventstore.Lease{}, err
	}
	if s.closing.Err() != nil {
		return eventstore.Lease{}, fmt.Errorf("renew lease %s: %w", l.Name, eventstore.ErrClosed)
	}
	if l.Generation > math.MaxInt64 {
		return eventstore.Lease{}, fmt.Errorf("renew lease %s: %w", l.Name, eventstore.ErrLeaseLost)
	}
	var expires time.Time
	err := s.leasePool.QueryRow(ctx, `
UPDATE eventstore.leases SET expires = clock_timestamp() + $4 * interval '1 microsecond'
 WHERE name = $1 AND holder = $2 AND generation = $3
RETURNING expires`, l.Name, l.Holder, int64(l.Generation), ttl.Microseconds()).Scan(&expires)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return eventstore.Lease{}, fmt.Errorf("renew lease %s: %w", l.Name, eventstore.ErrLeaseLost)
	case err != nil:
		return eventstore.Lease{}, fmt.Errorf("renew lease %s: %w", l.Name, s.failed(ctx, err))
	}
	l.Expires = expires.UTC()
	return l, nil
}

// ReleaseLease implements eventstore.Leases: the lease expires now, so the
// next AcquireLease takes it with a new generation.
func (s *Store) ReleaseLease(ctx context.Context, l eventstore.Lease) error {
	if s.closing.Err() != nil {
		return fmt.Errorf("release lease %s: %w", l.Name, eventstore.ErrClosed)
	}
	if l.Generation > math.MaxInt64 {
		return nil
	}
	_, err := s.leasePool.Exec(ctx, `
UPDATE eventstore.leases SET expires = clock_timestamp()
 WHERE name = $1 AND holder = $2 AND generation = $3 AND expires > clock_timestamp()`,
		l.Name, l.Holder, int64(l.Generation))
	if err != nil {
		return fmt.Errorf("release lease %s: %w", l.Name, s.failed(ctx, err))
	}
	return nil
}

// ReadLease implements eventstore.Leases; now is the server's clock.
func (s *Store) ReadLease(ctx context.Context, name string) (eventstore.Lease, bool, time.Time, error) {
	if s.closing.Err() != nil {
		return eventstore.Lease{}, false, time.Time{}, fmt.Errorf("read lease %s: %w", name, eventstore.ErrClosed)
	}
	var (
		holder  *string
		gen     *int64
		expires *time.Time
		now     time.Time
	)
	err := s.leasePool.QueryRow(ctx, `
SELECT l.holder, l.generation, l.expires, clock_timestamp()
  FROM (SELECT) AS one LEFT JOIN eventstore.leases l ON l.name = $1`, name).Scan(&holder, &gen, &expires, &now)
	if err != nil {
		return eventstore.Lease{}, false, time.Time{}, fmt.Errorf("read lease %s: %w", name, s.failed(ctx, err))
	}
	if holder == nil {
		return eventstore.Lease{}, false, now.UTC(), nil
	}
	return eventstore.Lease{Name: name, Holder: *holder, Generation: uint64(*gen), Expires: expires.UTC()}, true, now.UTC(), nil
}

func leaseArgs(name, holder string, ttl time.Duration) error {
	switch {
	case name == "" || !validText(name):
		return errors.New("lease: name must be non-empty UTF-8 text without NUL")
	case holder == "" || !validText(holder):
		return fmt.Errorf("lease %s: holder must be non-empty UTF-8 text without NUL", name)
	case ttl <= 0:
		return fmt.Errorf("lease %s: ttl %v must be positive", name, ttl)
	}
	return nil
}
