// Package eventstoretest is the conformance suite of the eventstore port:
// every adapter runs Run and must pass all of it, so services can switch
// between the embedded store and EventStoreDB without noticing.
//
// The suite uses only the port. It must not import an adapter.
package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
)

// wait bounds how long a case waits for a subscription before failing; it
// is a deadlock guard for slow CI and remote servers, not a measurement.
const wait = 15 * time.Second

// Run runs the suite. open is called once per case and returns a store that
// the case may Close; open must close it again at test cleanup, so Close must
// accept a second call. Stores may share one server: every case writes only
// to streams of its own (named with a fresh UUID) and ignores other events in
// SubscribeAll, so cases run in parallel.
func Run(t *testing.T, open func(t *testing.T) eventstore.Store) {
	cases := []struct {
		name string
		fn   func(*testing.T, eventstore.Store)
	}{
		{"AppendToNewStream", testAppendToNewStream},
		{"AppendConflict", testAppendConflict},
		{"AppendIdempotent", testAppendIdempotent},
		{"AppendParts", testAppendParts},
		{"ReadFromRevision", testReadFromRevision},
		{"ReadMissingStream", testReadMissingStream},
		{"MetadataAndDataRoundTrip", testRoundTrip},
		{"SubscribeCatchUpThenLive", testSubscribeCatchUpThenLive},
		{"SubscribeFromPosition", testSubscribeFromPosition},
		{"SubscribeOrderAcrossStreams", testSubscribeOrder},
		{"SubscribeCancel", testSubscribeCancel},
		{"SubscribeHandlerError", testSubscribeHandlerError},
		{"ConcurrentAppendsOneStream", testConcurrentOneStream},
		{"ConcurrentAppendsManyStreams", testConcurrentManyStreams},
		{"Checkpoints", testCheckpoints},
		{"Head", testHead},
		{"Leases", testLeases},
		{"Close", testClose},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, open(t))
		})
	}
}

func testAppendToNewStream(t *testing.T, s eventstore.Store) {
	stream := newStream("new")
	e0, e1, e2 := newEvent("test.Created"), newEvent("test.Changed"), newEvent("test.Changed")
	r := mustAppend(t, s, stream, eventstore.NoStream, e0, e1)
	if r.NextExpected != eventstore.Exactly(1) {
		t.Errorf("NextExpected = %d, want 1", r.NextExpected)
	}
	r2 := mustAppend(t, s, stream, r.NextExpected, e2)
	if r2.NextExpected != eventstore.Exactly(2) {
		t.Errorf("NextExpected = %d, want 2", r2.NextExpected)
	}
	if !r.Position.Less(r2.Position) {
		t.Errorf("positions %v then %v do not increase", r.Position, r2.Position)
	}
	got := mustRead(t, s, stream, 0)
	checkEvents(t, got, stream, 0, e0, e1, e2)
	if len(got) == 3 && (got[1].Position != r.Position || got[2].Position != r2.Position) {
		t.Errorf("append results %v, %v; stored positions %v, %v (want the last event's)",
			r.Position, r2.Position, got[1].Position, got[2].Position)
	}
}

func testAppendConflict(t *testing.T, s eventstore.Store) {
	ctx := t.Context()
	stream := newStream("conflict")
	missing := newStream("conflict-missing")
	mustAppend(t, s, stream, eventstore.NoStream, newEvent("test.Created"))
	for _, c := range []struct {
		name     string
		stream   string
		expected eventstore.ExpectedRevision
		actual   eventstore.ExpectedRevision
	}{
		{"revision on missing stream", missing, eventstore.Exactly(0), eventstore.NoStream},
		{"no stream on existing stream", stream, eventstore.NoStream, eventstore.Exactly(0)},
		{"revision ahead", stream, eventstore.Exactly(5), eventstore.Exactly(0)},
	} {
		_, err := s.Append(ctx, c.stream, c.expected, newEvent("test.Changed"))
		if !errors.Is(err, eventstore.ErrConflict) {
			t.Errorf("%s: err = %v, want ErrConflict", c.name, err)
			continue
		}
		var ce *eventstore.ConflictError
		if !errors.As(err, &ce) {
			t.Errorf("%s: %v is not a *ConflictError", c.name, err)
			continue
		}
		if ce.Stream != c.stream || ce.Expected != c.expected || ce.Actual != c.actual {
			t.Errorf("%s: got %+v, want stream %s expected %d actual %d", c.name, *ce, c.stream, c.expected, c.actual)
		}
	}
	if got := mustRead(t, s, stream, 0); len(got) != 1 {
		t.Errorf("stream has %d events after conflicts, want 1", len(got))
	}
	if got := mustRead(t, s, missing, 0); len(got) != 0 {
		t.Errorf("missing stream has %d events after a conflict, want 0", len(got))
	}
}

func testAppendIdempotent(t *testing.T, s eventstore.Store) {
	ctx := t.Context()
	stream := newStream("idem")
	a, b, c := newEvent("test.A"), newEvent("test.B"), newEvent("test.C")
	first := mustAppend(t, s, stream, eventstore.NoStream, a, b)
	again := mustAppend(t, s, stream, eventstore.NoStream, a, b)
	if again != first {
		t.Errorf("re-append returned %+v, first append %+v", again, first)
	}
	third := mustAppend(t, s, stream, first.NextExpected, c)
	if again := mustAppend(t, s, stream, first.NextExpected, c); again != third {
		t.Errorf("re-append of c returned %+v, first append %+v", again, third)
	}
	// The tail of an earlier append, replayed right after the revision
	// before it, is that append arriving again.
	mustAppend(t, s, stream, eventstore.Exactly(0), b)
	// Known ids at a stale expectation are a conflict, not a second copy.
	if _, err := s.Append(ctx, stream, eventstore.Exactly(1), a); !errors.Is(err, eventstore.ErrConflict) {
		t.Errorf("known id at a stale expectation: err = %v, want ErrConflict", err)
	}
	checkEvents(t, mustRead(t, s, stream, 0), stream, 0, a, b, c)
}

func testReadFromRevision(t *testing.T, s eventstore.Store) {
	stream := newStream("read")
	var evs []eventstore.EventData
	for range 5 {
		evs = append(evs, newEvent("test.Counted"))
	}
	mustAppend(t, s, stream, eventstore.NoStream, evs[:2]...)
	mustAppend(t, s, stream, eventstore.Exactly(1), evs[2:]...)
	checkEvents(t, mustRead(t, s, stream, 2), stream, 2, evs[2:]...)
	checkEvents(t, mustRead(t, s, stream, 4), stream, 4, evs[4:]...)
	for _, from := range []eventstore.Revision{5, 100} {
		if got := mustRead(t, s, stream, from); len(got) != 0 {
			t.Errorf("read from %d: %d events, want none", from, len(got))
		}
	}
}

func testReadMissingStream(t *testing.T, s eventstore.Store) {
	got, err := s.ReadStream(t.Context(), newStream("missing"), 0)
	if err != nil || len(got) != 0 {
		t.Errorf("ReadStream of a missing stream = %d events, %v; want none, nil", len(got), err)
	}
}

func testRoundTrip(t *testing.T, s eventstore.Store) {
	stream := newStream("roundtrip")
	full := newEvent("test.Full")
	full.Data = []byte{0, 1, 2, 0xff, 0, '\n'}
	full.Metadata = map[string]string{
		"traceparent":  "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"causation-id": uuid.NewString(),
		"note":         "café ☎ \"quoted\"",
		"empty":        "",
	}
	bare := eventstore.EventData{ID: uuid.NewString(), Type: "test.Bare"}
	r := mustAppend(t, s, stream, eventstore.NoStream, full, bare)
	checkEvents(t, mustRead(t, s, stream, 0), stream, 0, full, bare)

	sub := subscribe(t, s, eventstore.Position{}, onStreams(stream))
	checkEvents(t, sub.next(t, 2), stream, 0, full, bare)
	sub.end(t)

	// Upper-case ids name the same event: replaying with them is the same append.
	upper := []eventstore.EventData{full, bare}
	for i := range upper {
		upper[i].ID = strings.ToUpper(upper[i].ID)
	}
	if again := mustAppend(t, s, stream, eventstore.NoStream, upper...); again != r {
		t.Errorf("re-append with upper-case ids = %+v, want %+v", again, r)
	}
}

func testSubscribeCatchUpThenLive(t *testing.T, s eventstore.Store) {
	stream := newStream("live")
	e0, e1, e2, e3 := newEvent("test.A"), newEvent("test.B"), newEvent("test.C"), newEvent("test.D")
	mustAppend(t, s, stream, eventstore.NoStream, e0)
	mustAppend(t, s, stream, eventstore.Exactly(0), e1)
	sub := subscribe(t, s, eventstore.Position{}, onStreams(stream))
	checkEvents(t, sub.next(t, 2), stream, 0, e0, e1)
	// Caught up: these arrive live.
	mustAppend(t, s, stream, eventstore.Exactly(1), e2)
	checkEvents(t, sub.next(t, 1), stream, 2, e2)
	mustAppend(t, s, stream, eventstore.Exactly(2), e3)
	checkEvents(t, sub.next(t, 1), stream, 3, e3)
	if err := sub.stop(t); !errors.Is(err, context.Canceled) {
		t.Errorf("SubscribeAll after cancel = %v, want context.Canceled", err)
	}
}

func testSubscribeFromPosition(t *testing.T, s eventstore.Store) {
	stream := newStream("resume")
	evs := []eventstore.EventData{newEvent("test.A"), newEvent("test.B"), newEvent("test.C"), newEvent("test.D")}
	r0 := mustAppend(t, s, stream, eventstore.NoStream, evs[0])
	mustAppend(t, s, stream, eventstore.Exactly(0), evs[1])
	mustAppend(t, s, stream, eventstore.Exactly(1), evs[2], evs[3])
	stored := mustRead(t, s, stream, 0)
	if len(stored) != 4 {
		t.Fatalf("stored %d events, want 4", len(stored))
	}

	// Exclusive: from the first append's position, the rest.
	sub := subscribe(t, s, r0.Position, onStreams(stream))
	checkEvents(t, sub.next(t, 3), stream, 1, evs[1:]...)
	sub.end(t)

	// From the middle of a two-event append: only its second event, then live.
	sub = subscribe(t, s, stored[2].Position, onStreams(stream))
	checkEvents(t, sub.next(t, 1), stream, 3, evs[3])
	e4 := newEvent("test.E")
	mustAppend(t, s, stream, eventstore.Exactly(3), e4)
	checkEvents(t, sub.next(t, 1), stream, 4, e4)
	sub.end(t)
}

func testSubscribeOrder(t *testing.T, s eventstore.Store) {
	x, y := newStream("order-x"), newStream("order-y")
	var want []eventstore.RecordedEvent
	for i := range 3 {
		for _, stream := range []string{x, y} {
			expected := eventstore.NoStream
			if i > 0 {
				expected = eventstore.Exactly(eventstore.Revision(i - 1))
			}
			e := newEvent("test.Ordered")
			r := mustAppend(t, s, stream, expected, e)
			want = append(want, eventstore.RecordedEvent{Stream: stream, ID: e.ID, Position: r.Position})
		}
	}
	sub := subscribe(t, s, eventstore.Position{}, onStreams(x, y))
	got := sub.next(t, len(want))
	for i := range got {
		if got[i].Stream != want[i].Stream || got[i].ID != want[i].ID || got[i].Position != want[i].Position {
			t.Errorf("event %d = %s %s at %v, want %s %s at %v", i,
				got[i].Stream, got[i].ID, got[i].Position, want[i].Stream, want[i].ID, want[i].Position)
		}
		if i > 0 && !got[i-1].Position.Less(got[i].Position) {
			t.Errorf("event %d at %v does not follow %v", i, got[i].Position, got[i-1].Position)
		}
	}
	sub.end(t)
}

func testSubscribeCancel(t *testing.T, s eventstore.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.SubscribeAll(ctx, eventstore.Position{}, func(context.Context, eventstore.RecordedEvent) error {
		return nil
	}); !errors.Is(err, context.Canceled) {
		t.Errorf("SubscribeAll with a cancelled context = %v, want context.Canceled", err)
	}

	stream := newStream("cancel")
	sub := subscribe(t, s, eventstore.Position{}, onStreams(stream))
	mustAppend(t, s, stream, eventstore.NoStream, newEvent("test.A"))
	sub.next(t, 1) // live now: the cancel must wake a waiting subscription
	if err := sub.stop(t); !errors.Is(err, context.Canceled) {
		t.Errorf("SubscribeAll after cancel = %v, want context.Canceled", err)
	}
}

func testSubscribeHandlerError(t *testing.T, s eventstore.Store) {
	stream := newStream("handler")
	mustAppend(t, s, stream, eventstore.NoStream, newEvent("test.A"), newEvent("test.B"))
	errHandler := errors.New("handler refused")
	calls := 0
	err := s.SubscribeAll(t.Context(), eventstore.Position{}, func(_ context.Context, e eventstore.RecordedEvent) error {
		if e.Stream != stream {
			return nil
		}
		calls++
		return errHandler
	})
	if !errors.Is(err, errHandler) {
		t.Errorf("SubscribeAll = %v, want the handler's error", err)
	}
	if calls != 1 {
		t.Errorf("handler called %d times after failing, want 1", calls)
	}
}

func testConcurrentOneStream(t *testing.T, s eventstore.Store) {
	ctx := t.Context()
	stream := newStream("race")
	mustAppend(t, s, stream, eventstore.NoStream, newEvent("test.Created"))
	const writers = 8

	// Everyone appends at revision 0 at once: exactly one may win.
	start := make(chan struct{})
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			<-start
			_, errs[i] = s.Append(ctx, stream, eventstore.Exactly(0), newEvent("test.Raced"))
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, eventstore.ErrConflict):
			t.Errorf("losing append: %v, want ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d appends won revision 1, want exactly 1", wins)
	}

	// Then everyone retries until they land: read, append, repeat on conflict.
	ids := make([]string, writers)
	for i := range writers {
		e := newEvent("test.Retried")
		ids[i] = e.ID
		wg.Go(func() {
			for {
				evs, err := s.ReadStream(ctx, stream, 0)
				if err != nil {
					t.Errorf("read: %v", err)
					return
				}
				_, err = s.Append(ctx, stream, eventstore.Exactly(eventstore.Revision(len(evs)-1)), e)
				if err == nil {
					return
				}
				if !errors.Is(err, eventstore.ErrConflict) {
					t.Errorf("append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := mustRead(t, s, stream, 0)
	if len(got) != 2+writers {
		t.Fatalf("stream has %d events, want %d", len(got), 2+writers)
	}
	seen := map[string]int{}
	for i, e := range got {
		if e.Revision != eventstore.Revision(i) {
			t.Errorf("event %d has revision %d", i, e.Revision)
		}
		seen[e.ID]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("event %s stored %d times, want once", id, seen[id])
		}
	}
}

func testConcurrentManyStreams(t *testing.T, s eventstore.Store) {
	ctx := t.Context()
	prefix := newStream("many")
	const writers, appends = 32, 5
	sub := subscribe(t, s, eventstore.Position{}, func(e eventstore.RecordedEvent) bool {
		return strings.HasPrefix(e.Stream, prefix)
	})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("%s-%d", prefix, w)
			expected := eventstore.NoStream
			for range appends {
				r, err := s.Append(ctx, stream, expected, newEvent("test.Many"))
				if err != nil {
					t.Errorf("append %s: %v", stream, err)
					return
				}
				expected = r.NextExpected
			}
		})
	}
	wg.Wait()
	for w := range writers {
		stream := fmt.Sprintf("%s-%d", prefix, w)
		if got := mustRead(t, s, stream, 0); len(got) != appends {
			t.Errorf("%s has %d events, want %d", stream, len(got), appends)
		}
	}
	got := sub.next(t, writers*appends)
	next := map[string]eventstore.Revision{}
	for i, e := range got {
		if e.Revision != next[e.Stream] {
			t.Errorf("%s: revision %d delivered when %d was due", e.Stream, e.Revision, next[e.Stream])
		}
		next[e.Stream] = e.Revision + 1
		if i > 0 && !got[i-1].Position.Less(e.Position) {
			t.Errorf("event %d at %v does not follow %v", i, e.Position, got[i-1].Position)
		}
	}
	sub.end(t)
}

func testClose(t *testing.T, s eventstore.Store) {
	stream := newStream("close")
	sub := subscribe(t, s, eventstore.Position{}, onStreams(stream))
	mustAppend(t, s, stream, eventstore.NoStream, newEvent("test.A"))
	sub.next(t, 1)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := sub.wait(t); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("running SubscribeAll after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Append(t.Context(), stream, eventstore.Exactly(0), newEvent("test.B")); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	err := s.SubscribeAll(t.Context(), eventstore.Position{}, func(context.Context, eventstore.RecordedEvent) error { return nil })
	if !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("SubscribeAll after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
