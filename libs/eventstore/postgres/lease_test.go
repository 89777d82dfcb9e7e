package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/eventstore/postgres"
	"github.com/ringback/ringback/libs/eventstore/postgres/pgtest"
)

// TestLeasesOutliveABusyPool: with every connection of the store's pool
// taken (slow appends and reads queueing for one), a lease is still
// renewed, read, acquired and released at once, on connections of its own:
// a leader must not be deposed because the pool was busy.
func TestLeasesOutliveABusyPool(t *testing.T) {
	s := open(t, pgtest.Database(t))
	ctx := t.Context()
	l, err := s.AcquireLease(ctx, "relay-busy", "a", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	release, err := postgres.HoldPool(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	defer release()

	wait, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := s.RenewLease(wait, l, 10*time.Second); err != nil {
		t.Fatalf("renew with the pool busy: %v", err)
	}
	if _, err := s.AcquireLease(wait, "router-busy", "a", 10*time.Second); err != nil {
		t.Fatalf("acquire with the pool busy: %v", err)
	}
	if got, ok, _, err := s.ReadLease(wait, "relay-busy"); err != nil || !ok || got.Holder != "a" {
		t.Fatalf("read with the pool busy: %+v %v %v", got, ok, err)
	}
	if err := s.ReleaseLease(wait, l); err != nil {
		t.Fatalf("release with the pool busy: %v", err)
	}
	// The pool itself is busy indeed: a read of a stream waits.
	short, stop := context.WithTimeout(ctx, 200*time.Millisecond)
	defer stop()
	if _, err := s.ReadStream(short, "busy-1", 0); err == nil {
		t.Fatal("a read went through with every connection held: the test holds nothing")
	}
}
