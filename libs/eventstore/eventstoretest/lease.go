package eventstoretest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
)

// testLeases holds an adapter to the Leases contract: one holder at a time,
// renewals keep the generation, expiry or release lets another take it with
// a greater generation, and a deposed holder's fenced appends are refused
// while the new holder's go through.
func testLeases(t *testing.T, s eventstore.Store) {
	ls, ok := s.(eventstore.Leases)
	if !ok {
		t.Fatalf("%T does not implement eventstore.Leases", s)
	}
	ctx := t.Context()
	name := "conformance-" + uuid.NewString()
	if _, ok, _, err := ls.ReadLease(ctx, name); err != nil || ok {
		t.Fatalf("ReadLease of a new name: ok %v, err %v", ok, err)
	}
	a, err := ls.AcquireLease(ctx, name, "a", time.Minute)
	if err != nil {
		t.Fatalf("AcquireLease free: %v", err)
	}
	if a.Holder != "a" || a.Name != name || a.Generation == 0 {
		t.Fatalf("AcquireLease = %+v", a)
	}
	_, err = ls.AcquireLease(ctx, name, "b", time.Minute)
	var held *eventstore.LeaseHeldError
	if !errors.Is(err, eventstore.ErrLeaseHeld) || !errors.As(err, &held) || held.Holder != "a" {
		t.Fatalf("AcquireLease of a held lease = %v, want a *LeaseHeldError naming a", err)
	}
	again, err := ls.AcquireLease(ctx, name, "a", time.Minute)
	if err != nil || again.Generation != a.Generation {
		t.Fatalf("the holder acquiring again = %+v, %v; want generation %d", again, err, a.Generation)
	}
	renewed, err := ls.RenewLease(ctx, a, time.Minute)
	if err != nil || renewed.Generation != a.Generation || renewed.Expires.Before(a.Expires) {
		t.Fatalf("RenewLease = %+v, %v", renewed, err)
	}
	if cur, ok, now, err := ls.ReadLease(ctx, name); err != nil || !ok || cur.Holder != "a" || !now.Before(cur.Expires) {
		t.Fatalf("ReadLease = %+v %v %v %v", cur, ok, now, err)
	}

	// Fenced writes: the holder's go through.
	stream := newStream("fenced")
	r := mustAppend(t, s, stream, eventstore.NoStream, newEvent("test.Created"))
	if _, err := s.Append(eventstore.WithFence(ctx, a), stream, r.NextExpected, newEvent("test.ByA")); err != nil {
		t.Fatalf("fenced append of the holder: %v", err)
	}

	// Released, b takes it with a greater generation; a is deposed.
	if err := ls.ReleaseLease(ctx, a); err != nil {
		t.Fatalf("ReleaseLease: %v", err)
	}
	b, err := ls.AcquireLease(ctx, name, "b", time.Minute)
	if err != nil || b.Generation <= a.Generation {
		t.Fatalf("AcquireLease after release = %+v, %v; want a generation after %d", b, err, a.Generation)
	}
	if _, err := ls.RenewLease(ctx, a, time.Minute); !errors.Is(err, eventstore.ErrLeaseLost) {
		t.Fatalf("RenewLease of the deposed holder = %v, want ErrLeaseLost", err)
	}
	before := mustRead(t, s, stream, 0)
	_, err = s.Append(eventstore.WithFence(ctx, a), stream, eventstore.Exactly(before[len(before)-1].Revision), newEvent("test.ByA"))
	if !errors.Is(err, eventstore.ErrFenced) {
		t.Fatalf("fenced append of the deposed holder = %v, want ErrFenced", err)
	}
	if got := mustRead(t, s, stream, 0); len(got) != len(before) {
		t.Fatalf("the refused append wrote: %d events, want %d", len(got), len(before))
	}
	if _, err := s.Append(eventstore.WithFence(ctx, b), stream, eventstore.Exactly(before[len(before)-1].Revision), newEvent("test.ByB")); err != nil {
		t.Fatalf("fenced append of the new holder: %v", err)
	}

	// Expiry: a short lease lapses and another holder takes it over.
	short := "conformance-" + uuid.NewString()
	c, err := ls.AcquireLease(ctx, short, "c", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	d, err := ls.AcquireLease(ctx, short, "d", time.Minute)
	if err != nil || d.Generation <= c.Generation {
		t.Fatalf("AcquireLease of an expired lease = %+v, %v", d, err)
	}

	// Racing holders: exactly one wins.
	race := "conformance-" + uuid.NewString()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins []string
	)
	for i := range 8 {
		wg.Go(func() {
			holder := string(rune('a' + i))
			_, err := ls.AcquireLease(ctx, race, holder, time.Minute)
			switch {
			case err == nil:
				mu.Lock()
				wins = append(wins, holder)
				mu.Unlock()
			case !errors.Is(err, eventstore.ErrLeaseHeld):
				t.Errorf("racing AcquireLease: %v", err)
			}
		})
	}
	wg.Wait()
	if len(wins) != 1 {
		t.Fatalf("%d holders won one lease: %v", len(wins), wins)
	}
}
