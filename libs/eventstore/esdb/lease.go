package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
)

// Leases live in streams of their own, one per name, each event the lease
// as it stands; the last event is the lease. Changing it appends at the
// revision read, so of two holders racing one wins. The "$" type keeps
// lease events out of SubscribeAll, as checkpoints.
//
// KurrentDB offers no clock to its clients and no transaction across
// streams, so two things are weaker here than on PostgreSQL: expiry is
// judged by the holders' clocks (keep them within a fraction of the ttl,
// as NTP does), and a fenced append checks the lease just before it
// appends rather than atomically with it, leaving a window of one round
// trip in which a holder deposed that instant still writes.
const (
	leasePrefix = "ringback-lease-"
	leaseType   = "$ringback-lease"
)

type leaseData struct {
	Holder     string    `json:"holder"`
	Generation uint64    `json:"generation"`
	Expires    time.Time `json:"expires"`
}

// AcquireLease implements eventstore.Leases.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (eventstore.Lease, error) {
	if err := leaseArgs(name, holder, ttl); err != nil {
		return eventstore.Lease{}, err
	}
	return s.changeLease(ctx, name, func(cur eventstore.Lease, found bool, now time.Time) (eventstore.Lease, error) {
		switch {
		case found && cur.Holder == holder && now.Before(cur.Expires):
			// Renewed: the same generation.
		case found && now.Before(cur.Expires):
			return eventstore.Lease{}, &eventstore.LeaseHeldError{Name: name, Holder: cur.Holder, Expires: cur.Expires}
		default:
			cur = eventstore.Lease{Name: name, Holder: holder, Generation: cur.Generation + 1}
		}
		cur.Expires = now.Add(ttl)
		return cur, nil
	})
}

// RenewLease implements eventstore.Leases.
func (s *Store) RenewLease(ctx context.Context, l eventstore.Lease, ttl time.Duration) (eventstore.Lease, error) {
	if err := leaseArgs(l.Name, l.Holder, ttl); err != nil {
		return eventstore.Lease{}, err
	}
	return s.changeLease(ctx, l.Name, func(cur eventstore.Lease, found bool, now time.Time) (eventstore.Lease, error) {
		if !found || cur.Holder != l.Holder || cur.Generation != l.Generation {
			return eventstore.Lease{}, fmt.Errorf("renew lease %s: %w", l.Name, eventstore.ErrLeaseLost)
		}
		cur.Expires = now.Add(ttl)
		return cur, nil
	})
}

// ReleaseLease implements eventstore.Leases.
func (s *Store) ReleaseLease(ctx context.Context, l eventstore.Lease) error {
	_, err := s.changeLease(ctx, l.Name, func(cur eventstore.Lease, found bool, now time.Time) (eventstore.Lease, error) {
		if !found || cur.Holder != l.Holder || cur.Generation != l.Generation {
			return eventstore.Lease{}, errNoChange
		}
		cur.Expires = now
		return cur, nil
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	return err
}

// ReadLease implements eventstore.Leases.
func (s *Store) ReadLease(ctx context.Context, name string) (eventstore.Lease, bool, time.Time, error) {
	if s.closed.Err() != nil {
		return eventstore.Lease{}, false, time.Time{}, fmt.Errorf("read lease %s: %w", name, eventstore.ErrClosed)
	}
	l, _, found, err := s.lastLease(ctx, name)
	if err != nil {
		return eventstore.Lease{}, false, time.Time{}, fmt.Errorf("read lease %s: %w", name, err)
	}
	return l, found, time.Now(), nil
}

var errNoChange = errors.New("no change")

// maxLeaseAttempts bounds re-reads after losing an append race; a race
// lost means someone else changed the lease, so the re-read usually ends it.
const maxLeaseAttempts = 8

func (s *Store) changeLease(ctx context.Context, name string, change func(cur eventstore.Lease, found bool, now time.Time) (eventstore.Lease, error)) (eventstore.Lease, error) {
	if s.closed.Err() != nil {
		return eventstore.Lease{}, fmt.Errorf("lease %s: %w", name, eventstore.ErrClosed)
	}
	stream := leasePrefix + name
	for attempt := 1; ; attempt++ {
		cur, rev, found, err := s.lastLease(ctx, name)
		if err != nil {
			return eventstore.Lease{}, fmt.Errorf("lease %s: %w", name, err)
		}
		next, err := change(cur, found, time.Now())
		if err != nil {
			return eventstore.Lease{}, err
		}
		var want esdb.ExpectedRevision = esdb.NoStream{}
		if found {
			want = esdb.Revision(rev)
		} else if err := s.limitCheckpointStream(ctx, stream); err != nil {
			return eventstore.Lease{}, fmt.Errorf("lease %s: %w", name, err)
		}
		data, _ := json.Marshal(leaseData{Holder: next.Holder, Generation: next.Generation, Expires: next.Expires})
		_, err = do(ctx, s, func(ctx context.Context, c *esdb.Client) (*esdb.WriteResult, error) {
			return c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: want}, esdb.EventData{
				EventID: uuid.New(), EventType: leaseType, ContentType: esdb.ContentTypeJson, Data: data,
			})
		})
		if err == nil {
			return next, nil
		}
		if e, _ := esdb.FromError(err); e.Code() == esdb.ErrorCodeWrongExpectedVersion && attempt < maxLeaseAttempts {
			continue // changed meanwhile: decide again on what is there now
		}
		return eventstore.Lease{}, fmt.Errorf("lease %s: %w", name, s.translate(ctx, err))
	}
}

// lastLease reads a lease's last event: the lease, its revision, whether
// there is one.
func (s *Store) lastLease(ctx context.Context, name string) (eventstore.Lease, uint64, bool, error) {
	stream := leasePrefix + name
	evs, err := s.readRaw(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil || len(evs) == 0 {
		return eventstore.Lease{}, 0, false, err
	}
	e := evs[0]
	var d leaseData
	if e.EventType != leaseType {
		return eventstore.Lease{}, 0, false, fmt.Errorf("%s@%d: event type %q is not a lease", stream, e.EventNumber, e.EventType)
	}
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return eventstore.Lease{}, 0, false, fmt.Errorf("%s@%d: %w", stream, e.EventNumber, err)
	}
	return eventstore.Lease{Name: name, Holder: d.Holder, Generation: d.Generation, Expires: d.Expires}, e.EventNumber, true, nil
}

// checkFence refuses an append whose lease has passed on (see the window
// described above).
func (s *Store) checkFence(ctx context.Context) error {
	f, ok := eventstore.FenceOf(ctx)
	if !ok {
		return nil
	}
	l, _, found, err := s.lastLease(ctx, f.Name)
	if err != nil {
		return fmt.Errorf("fence %s: %w", f.Name, err)
	}
	if !found || l.Generation != f.Generation {
		return fmt.Errorf("lease %s generation %d: %w", f.Name, f.Generation, eventstore.ErrFenced)
	}
	return nil
}

func leaseArgs(name, holder string, ttl time.Duration) error {
	switch {
	case !checkpointName.MatchString(name):
		return fmt.Errorf("lease %q: invalid name", name)
	case holder == "":
		return fmt.Errorf("lease %s: empty holder", name)
	case ttl <= 0:
		return fmt.Errorf("lease %s: ttl %v must be positive", name, ttl)
	}
	return nil
}

var _ eventstore.Leases = (*Store)(nil)
