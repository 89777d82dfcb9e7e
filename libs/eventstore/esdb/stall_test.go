package esdb_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/esdb"
	"github.com/ringback/ringback/libs/eventstore/esdb/kurrenttest"
	"github.com/ringback/ringback/libs/netstall"
)

// A stalled server is not a stopped one: its connections stay open and
// nothing comes back (a stalled disk, a partition with no reset, a long
// pause). These tests hold every byte between the adapter and the
// kurrenttest harness (libs/netstall), as the e2e tests stall PostgreSQL
// and Kafka.

// stallingServer is a harness whose every byte passes gate.
func stallingServer(t *testing.T, gate *netstall.Gate) *kurrenttest.Server {
	t.Helper()
	return kurrenttest.Start(t, kurrenttest.WithListener(func(l net.Listener) net.Listener {
		return netstall.Listener(l, gate)
	}))
}

// subscription collects what SubscribeAll delivers, and how it ended.
type subscription struct {
	mu   sync.Mutex
	ids  []string
	done chan error
}

func subscribe(ctx context.Context, s *esdb.Store, from eventstore.Position) *subscription {
	sub := &subscription{done: make(chan error, 1)}
	go func() {
		sub.done <- s.SubscribeAll(ctx, from, func(_ context.Context, e eventstore.RecordedEvent) error {
			sub.mu.Lock()
			sub.ids = append(sub.ids, e.ID)
			sub.mu.Unlock()
			return nil
		})
	}()
	return sub
}

func (s *subscription) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids)
}

// waitSeen waits until the subscription delivered want, in order, and
// nothing else, failing if it ends first.
func (s *subscription) waitSeen(t *testing.T, what string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !slices.Equal(s.seen(), want) {
		select {
		case err := <-s.done:
			t.Fatalf("%s: the subscription ended (%v) having delivered %v, want %v", what, err, s.seen(), want)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the subscription delivered %v, want %v", what, s.seen(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// returnsWhileStalled runs call and fails the test unless it returns an
// error while the server is still stalled: by its own context, not when the
// bytes flow again. The stall lasts as long as the test holds it, so this
// is no race with a clock.
func returnsWhileStalled(t *testing.T, what string, call func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	got := make(chan error, 1)
	go func() { got <- call(ctx) }()
	select {
	case err := <-got:
		if err == nil || errors.Is(err, eventstore.ErrClosed) || errors.Is(err, eventstore.ErrConflict) {
			t.Errorf("%s while the server stalls = %v, want its context's error", what, err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("%s while the server stalls: still waiting 15 s after its context ended", what)
	}
}

// appendOnceAnswered appends e as a caller retrying it does (the same event
// at the same expected revision, as eventstore.Execute), until the server,
// answering again, takes it.
func appendOnceAnswered(t *testing.T, s *esdb.Store, stream string, expected eventstore.ExpectedRevision, e eventstore.EventData) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		_, err := s.Append(ctx, stream, expected, e)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("append after the stall: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStallOutlived: while the server stalls, calls return by their
// context, and a subscription waits; once it answers again, an append
// whose caller gave up and retries with the same event is stored once (it
// may have reached the server when the bytes flowed again), and the
// subscription delivers it, once, without having ended.
func TestStallOutlived(t *testing.T) {
	var gate netstall.Gate
	srv := stallingServer(t, &gate)
	s := open(t, srv.URL())
	stream := "esdb-test-" + uuid.NewString()
	a, b := event("test.A"), event("test.B")
	if _, err := s.Append(t.Context(), stream, eventstore.NoStream, a); err != nil {
		t.Fatal(err)
	}
	sub := subscribe(t.Context(), s, eventstore.Position{})
	sub.waitSeen(t, "before the stall", a.ID)

	release := gate.Hold()
	defer release()
	returnsWhileStalled(t, "append", func(ctx context.Context) error {
		_, err := s.Append(ctx, stream, eventstore.Exactly(0), b)
		return err
	})
	returnsWhileStalled(t, "read", func(ctx context.Context) error {
		_, err := s.ReadStream(ctx, stream, 0)
		return err
	})
	release()

	appendOnceAnswered(t, s, stream, eventstore.Exactly(0), b)
	evs, err := s.ReadStream(t.Context(), stream, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	if !slices.Equal(ids, []string{a.ID, b.ID}) {
		t.Fatalf("after the stall the stream holds %v, want [A B] (%s %s)", ids, a.ID, b.ID)
	}
	sub.waitSeen(t, "after the stall", a.ID, b.ID)
}

// TestLongStallEndsTheSubscription: a subscription over a connection that
// stays silent past the client's keepalive ends with an error, which its
// owner (a read model, a relay) answers by subscribing again from where it
// stood; it does not wait for ever on a connection that may be dead. Once
// the server answers again, the store works and a new subscription goes on
// from there. The client pings after 10 s of silence (gRPC's floor); the
// timeout for the answer is cut to 1 s here.
func TestLongStallEndsTheSubscription(t *testing.T) {
	t.Parallel()
	var gate netstall.Gate
	srv := stallingServer(t, &gate)
	s := open(t, srv.URL()+"&keepAliveTimeout=1000")
	stream := "esdb-test-" + uuid.NewString()
	a, b := event("test.A"), event("test.B")
	res, err := s.Append(t.Context(), stream, eventstore.NoStream, a)
	if err != nil {
		t.Fatal(err)
	}
	sub := subscribe(t.Context(), s, eventstore.Position{})
	sub.waitSeen(t, "before the stall", a.ID)

	release := gate.Hold()
	defer release()
	held := time.Now()
	select {
	case err := <-sub.done:
		if err == nil || errors.Is(err, eventstore.ErrClosed) || errors.Is(err, context.Canceled) {
			t.Fatalf("the subscription over a silent connection ended with %v, want an error saying why", err)
		}
		t.Logf("the subscription ended %v into the stall: %v", time.Since(held).Round(time.Second), err)
	case <-time.After(45 * time.Second):
		t.Fatal("the subscription still waits on a connection silent for 45 s")
	}
	release()

	appendOnceAnswered(t, s, stream, res.NextExpected, b)
	again := subscribe(t.Context(), s, res.Position)
	again.waitSeen(t, "subscribed again after the stall", b.ID)
}
