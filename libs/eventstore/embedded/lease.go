package embedded

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
)

// AcquireLease implements eventstore.Leases.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (eventstore.Lease, error) {
	if err := leaseArgs(name, holder, ttl); err != nil {
		return eventstore.Lease{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.Lease{}, err
	}
	if s.closing.Err() != nil {
		return eventstore.Lease{}, fmt.Errorf("acquire lease %s: %w", name, eventstore.ErrClosed)
	}
	now := time.Now() // leases pace the infrastructure: the wall clock, not WithClock's
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.leases[name]
	switch {
	case ok && l.Holder == holder && now.Before(l.Expires):
		// Renewed in place: the same holder keeps its generation.
	case ok && now.Before(l.Expires):
		return eventstore.Lease{}, &eventstore.LeaseHeldError{Name: name, Holder: l.Holder, Expires: l.Expires}
	default:
		l = eventstore.Lease{Name: name, Holder: holder, Generation: l.Generation + 1}
	}
	l.Expires = now.Add(ttl)
	s.leases[name] = l
	return l, nil
}

// RenewLease implements eventstore.Leases.
func (s *Store) RenewLease(ctx context.Context, l eventstore.Lease, ttl time.Duration) (eventstore.Lease, error) {
	if err := leaseArgs(l.Name, l.Holder, ttl); err != nil {
		return eventstore.Lease{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.Lease{}, err
	}
	now := time.Now() // leases pace the infrastructure: the wall clock, not WithClock's
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.leases[l.Name]
	// An expired lease nobody took yet is still the holder's to renew: its
	// generation has not moved, so nothing was fenced off meanwhile.
	if !ok || cur.Holder != l.Holder || cur.Generation != l.Generation {
		return eventstore.Lease{}, fmt.Errorf("renew lease %s: %w", l.Name, eventstore.ErrLeaseLost)
	}
	cur.Expires = now.Add(ttl)
	s.leases[l.Name] = cur
	return cur, nil
}

// ReleaseLease implements eventstore.Leases.
func (s *Store) ReleaseLease(ctx context.Context, l eventstore.Lease) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := time.Now() // leases pace the infrastructure: the wall clock, not WithClock's
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.leases[l.Name]; ok && cur.Holder == l.Holder && cur.Generation == l.Generation {
		cur.Expires = now
		s.leases[l.Name] = cur
	}
	return nil
}

// ReadLease implements eventstore.Leases.
func (s *Store) ReadLease(ctx context.Context, name string) (eventstore.Lease, bool, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Lease{}, false, time.Time{}, err
	}
	now := time.Now() // leases pace the infrastructure: the wall clock, not WithClock's
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.leases[name]
	return l, ok, now, nil
}

func leaseArgs(name, holder string, ttl time.Duration) error {
	switch {
	case name == "":
		return errors.New("lease: empty name")
	case holder == "":
		return fmt.Errorf("lease %s: empty holder", name)
	case ttl <= 0:
		return fmt.Errorf("lease %s: ttl %v must be positive", name, ttl)
	}
	return nil
}

var _ eventstore.Leases = (*Store)(nil)
