package esdb_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	kurrent "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/esdb"
	"github.com/ringback/ringback/libs/eventstore/esdb/kurrenttest"
	"github.com/ringback/ringback/libs/eventstore/eventstoretest"
)

// TestConformance runs the port's suite through the real client over gRPC
// against the kurrenttest harness, in every go test.
func TestConformance(t *testing.T) {
	url := kurrenttest.Start(t).URL()
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store { return open(t, url) })
}

// TestConformanceKurrentDB runs the port's suite against a real server, for
// example KURRENTDB_URL=esdb://localhost:2113?tls=false with KurrentDB in
// docker.
func TestConformanceKurrentDB(t *testing.T) {
	url := kurrentDB(t)
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store { return open(t, url) })
}

// kurrentDB is the connection string of a real server, or skips.
func kurrentDB(t *testing.T) string {
	t.Helper()
	url := os.Getenv("KURRENTDB_URL")
	if url == "" {
		t.Skip("KURRENTDB_URL not set: no KurrentDB/EventStoreDB to run against (e.g. KURRENTDB_URL=esdb://localhost:2113?tls=false); the kurrenttest harness runs the same tests in every go test")
	}
	return url
}

// open connects a store and closes it at cleanup.
func open(t *testing.T, url string) *esdb.Store {
	t.Helper()
	s, err := esdb.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// TestCheckpointsOnTheWire checks what the conformance suite cannot see:
// where the adapter keeps checkpoints and that nobody else trips on them.
func TestCheckpointsOnTheWire(t *testing.T) {
	srv := kurrenttest.Start(t)
	testCheckpointsOnTheWire(t, srv.URL(), true)
}

func TestCheckpointsOnTheWireKurrentDB(t *testing.T) {
	testCheckpointsOnTheWire(t, kurrentDB(t), false)
}

func testCheckpointsOnTheWire(t *testing.T, url string, ownServer bool) {
	ctx := t.Context()
	s := open(t, url)
	raw := rawClient(t, url)
	name := "wire-" + uuid.NewString()
	stream := "esdb-test-" + uuid.NewString()

	r0, err := s.Append(ctx, stream, eventstore.NoStream, event("test.A"))
	if err != nil {
		t.Fatal(err)
	}
	r1, err := s.Append(ctx, stream, r0.NextExpected, event("test.B"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []eventstore.Position{r0.Position, r1.Position, r0.Position} {
		if err := s.SaveCheckpoint(ctx, name, p); err != nil {
			t.Fatalf("SaveCheckpoint(%v): %v", p, err)
		}
	}

	// One stream per name, kept short by the server.
	meta, err := raw.GetStreamMetadata(ctx, "ringback-checkpoint-"+name, kurrent.ReadStreamOptions{})
	if err != nil {
		t.Fatalf("metadata of the checkpoint stream: %v", err)
	}
	if mc := meta.MaxCount(); mc == nil || *mc != 1 {
		t.Errorf("checkpoint stream $maxCount = %v, want 1", mc)
	}
	rs, err := raw.ReadStream(ctx, "ringback-checkpoint-"+name, kurrent.ReadStreamOptions{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var kept []*kurrent.ResolvedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read checkpoint stream: %v", err)
		}
		kept = append(kept, ev)
	}
	if len(kept) != 1 || kept[0].OriginalEvent().EventNumber != 1 {
		t.Errorf("checkpoint stream reads as %d events, want only the last of 2 saves", len(kept))
	}

	// Head is the last event a subscription delivers, not the checkpoint
	// appended after it; on a shared server others may have written since.
	head, err := s.Head(ctx)
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	if ownServer && head != r1.Position || head.Less(r1.Position) {
		t.Errorf("Head = %v, want the last appended event's %v", head, r1.Position)
	}

	// Subscribers never see checkpoints: from the start to a marker
	// appended after the saves, nothing of a checkpoint stream arrives.
	r2, err := s.Append(ctx, stream, r1.NextExpected, event("test.Marker"))
	if err != nil {
		t.Fatal(err)
	}
	subCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	errMarker := errors.New("marker reached")
	err = s.SubscribeAll(subCtx, eventstore.Position{}, func(_ context.Context, e eventstore.RecordedEvent) error {
		if strings.HasPrefix(e.Stream, "ringback-checkpoint-") || strings.HasPrefix(e.Type, "$") {
			t.Errorf("subscription delivered %s %s", e.Stream, e.Type)
		}
		if e.Position == r2.Position {
			return errMarker
		}
		return nil
	})
	if !errors.Is(err, errMarker) {
		t.Fatalf("subscription ended before the marker: %v", err)
	}

	for _, bad := range []string{"", "has space", "slash/name", "$system"} {
		if err := s.SaveCheckpoint(ctx, bad, r1.Position); err == nil {
			t.Errorf("SaveCheckpoint(%q) accepted an invalid name", bad)
		}
		if _, err := s.LoadCheckpoint(ctx, bad); err == nil {
			t.Errorf("LoadCheckpoint(%q) accepted an invalid name", bad)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveCheckpoint(ctx, name, r2.Position); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("SaveCheckpoint after Close = %v, want ErrClosed", err)
	}
	if _, err := s.LoadCheckpoint(ctx, name); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("LoadCheckpoint after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Head(ctx); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Head after Close = %v, want ErrClosed", err)
	}
}

// TestAppendTooLarge: the server refuses an append above its limit; that is
// an error of its own, not a conflict, and the store stays usable.
func TestAppendTooLarge(t *testing.T) {
	srv := kurrenttest.Start(t)
	s := open(t, srv.URL())
	stream := "esdb-test-" + uuid.NewString()
	big := event("test.Big")
	big.Data = make([]byte, kurrenttest.DefaultMaxAppendSize+1)
	_, err := s.Append(t.Context(), stream, eventstore.NoStream, big)
	if err == nil || errors.Is(err, eventstore.ErrConflict) || errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("append above the server's limit = %v, want its refusal", err)
	}
	if _, err := s.Append(t.Context(), stream, eventstore.NoStream, event("test.Small")); err != nil {
		t.Fatalf("append after a refused one: %v", err)
	}
}

// TestServerGoesAway: when the server stops, calls and a running
// subscription fail with an error, not with ErrClosed (which means the
// owner closed the store, and makes callers stop quietly), and Close still
// works.
func TestServerGoesAway(t *testing.T) {
	srv, err := kurrenttest.Listen(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	url := srv.URL() + "&maxDiscoverAttempts=2&discoveryInterval=10"
	s := open(t, url)
	ctx := t.Context()
	stream := "esdb-test-" + uuid.NewString()
	if _, err := s.Append(ctx, stream, eventstore.NoStream, event("test.A")); err != nil {
		t.Fatal(err)
	}
	subErr := make(chan error, 1)
	live := make(chan struct{})
	go func() {
		var once sync.Once
		subErr <- s.SubscribeAll(ctx, eventstore.Position{}, func(context.Context, eventstore.RecordedEvent) error {
			once.Do(func() { close(live) })
			return nil
		})
	}()
	<-live
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-subErr:
		if err == nil || errors.Is(err, eventstore.ErrClosed) || errors.Is(err, context.Canceled) {
			t.Errorf("subscription when the server stopped = %v, want an error saying so", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("subscription still running 15s after the server stopped")
	}
	// The first call finds the connection gone, the next ones rediscover
	// and give up: neither is the owner's Close.
	for i := range 3 {
		_, err := s.Append(ctx, stream, eventstore.Exactly(0), event("test.B"))
		if err == nil || errors.Is(err, eventstore.ErrClosed) || errors.Is(err, eventstore.ErrConflict) {
			t.Errorf("append %d without a server = %v, want an error saying so", i, err)
		}
		if _, err := s.ReadStream(ctx, stream, 0); err == nil || errors.Is(err, eventstore.ErrClosed) {
			t.Errorf("read %d without a server = %v, want an error saying so", i, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close without a server: %v", err)
	}
}

func event(typ string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.NewString(), Type: typ, Data: []byte(typ)}
}

// rawClient is the client library itself, to look at what the adapter
// left on the server.
func rawClient(t *testing.T, url string) *kurrent.Client {
	t.Helper()
	conf, err := kurrent.ParseConnectionString(url)
	if err != nil {
		t.Fatal(err)
	}
	conf.Logger = kurrent.NoopLogging()
	c, err := kurrent.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestCallsWhileRediscovering: calls made while the client rediscovers a
// stopped server return by their context, and Close neither hangs nor
// panics, whatever the client library does with them (it blocks them
// without looking at their context, for ever once discovery fails).
func TestCallsWhileRediscovering(t *testing.T) {
	srv, err := kurrenttest.Listen(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	s, err := esdb.New(t.Context(), srv.URL()+"&maxDiscoverAttempts=3&discoveryInterval=100")
	if err != nil {
		t.Fatal(err)
	}
	stream := "esdb-test-" + uuid.NewString()
	if _, err := s.Append(t.Context(), stream, eventstore.NoStream, event("test.A")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	// The first wave finds the connection broken and asks for a
	// rediscovery; the next ones wait for it, which fails.
	var wg sync.WaitGroup
	for i := range 24 {
		if i%8 == 0 {
			wg.Wait()
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			defer cancel()
			start := time.Now()
			var err error
			if i%2 == 0 {
				_, err = s.Append(ctx, stream, eventstore.Exactly(0), event("test.B"))
			} else {
				_, err = s.ReadStream(ctx, stream, 0)
			}
			if err == nil || errors.Is(err, eventstore.ErrClosed) {
				t.Errorf("call %d without a server = %v, want an error", i, err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("call %d returned after %v, its context ended after 0.5s", i, d)
			}
		})
	}
	wg.Wait()
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		// Calls stuck in the library for good leave the client open, and
		// Close says so; it must not panic or hang.
		t.Logf("Close: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs")
	}
}

// TestServerComesBack: a store outlives a server restart: once the server
// listens again, calls work again, with the data it kept.
func TestServerComesBack(t *testing.T) {
	dir := t.TempDir()
	srv, err := kurrenttest.Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr()
	s := open(t, srv.URL()+"&maxDiscoverAttempts=2&discoveryInterval=10")
	stream := "esdb-test-" + uuid.NewString()
	a := event("test.A")
	if _, err := s.Append(t.Context(), stream, eventstore.NoStream, a); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	// Long enough down for the client to give up rediscovering.
	for range 3 {
		if _, err := s.ReadStream(t.Context(), stream, 0); err == nil {
			t.Fatal("read without a server succeeded")
		}
	}
	srv, err = kurrenttest.Listen(dir, kurrenttest.WithAddr(addr))
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	t.Cleanup(func() { srv.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, err := s.ReadStream(t.Context(), stream, 0)
		if err == nil {
			if len(evs) != 1 || evs[0].ID != a.ID {
				t.Fatalf("after the restart the stream reads %+v, want the event appended before", evs)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store still failing 10s after the server came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := s.Append(t.Context(), stream, eventstore.Exactly(0), event("test.B")); err != nil {
		t.Fatalf("append after the restart: %v", err)
	}
}

// TestNewUnreachable: New fails, and within about its context, when nothing
// answers; the client library's discovery alone would take its own time.
func TestNewUnreachable(t *testing.T) {
	srv := kurrenttest.Start(t)
	url := srv.URL()
	if err := srv.Close(); err != nil { // a port where nothing listens now
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	s, err := esdb.New(ctx, url)
	if err == nil {
		s.Close()
		t.Fatal("New succeeded without a server")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("New took %v with a 300ms context", d)
	}
	t.Logf("New after %v: %v", time.Since(start), err)
}

// TestHeadPastManySystemEvents: Head pages back over more system events
// than one read returns, and answers the zero position for a store with
// none of ours.
func TestHeadPastManySystemEvents(t *testing.T) {
	srv := kurrenttest.Start(t)
	s := open(t, srv.URL())
	ctx := t.Context()
	for i := range 3 {
		if err := s.SaveCheckpoint(ctx, "before", eventstore.Position{Commit: uint64(i + 1), Prepare: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	if head, err := s.Head(ctx); err != nil || head != (eventstore.Position{}) {
		t.Errorf("Head of a store with only checkpoints = %v, %v; want the zero position", head, err)
	}
	r, err := s.Append(ctx, "esdb-test-"+uuid.NewString(), eventstore.NoStream, event("test.A"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 150 {
		p := eventstore.Position{Commit: r.Position.Commit + uint64(i) + 1, Prepare: r.Position.Commit + uint64(i) + 1}
		if err := s.SaveCheckpoint(ctx, "after", p); err != nil {
			t.Fatal(err)
		}
	}
	if head, err := s.Head(ctx); err != nil || head != r.Position {
		t.Errorf("Head = %v, %v; want %v, the last event before 150 checkpoints", head, err, r.Position)
	}
}
