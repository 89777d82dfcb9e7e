package embedded_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
	"github.com/ringback/ringback/libs/eventstore/eventstoretest"
)

func TestConformance(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		return open(t, t.TempDir())
	})
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2025, 3, 4, 9, 30, 0, 0, time.UTC)
	s := open(t, dir, embedded.WithClock(func() time.Time { return at }))
	req := "callback-request-" + uuid.NewString()
	agent := "agent-session-" + uuid.NewString()
	first := []eventstore.EventData{event("callback.v1.CallbackRequested"), event("callback.v1.CallbackScheduled")}
	r1 := mustAppend(t, s, req, eventstore.NoStream, first...)
	mustAppend(t, s, agent, eventstore.NoStream, event("agent.v1.LoggedIn"))
	mustAppend(t, s, req, eventstore.Exactly(1), event("callback.v1.CallbackDue"))
	before := collect(t, s, 4)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	if after := collect(t, s, 4); !reflect.DeepEqual(after, before) {
		t.Errorf("after reopen:\n%+v\nbefore:\n%+v", after, before)
	}
	if !before[0].Time.Equal(at) {
		t.Errorf("recorded time %v, want the injected clock's %v", before[0].Time, at)
	}
	// The indexes came back too: idempotency, conflicts, numbering.
	if again := mustAppend(t, s, req, eventstore.NoStream, first...); again != r1 {
		t.Errorf("replay after reopen = %+v, want %+v", again, r1)
	}
	if _, err := s.Append(t.Context(), req, eventstore.NoStream, event("x.v1.X")); !errors.Is(err, eventstore.ErrConflict) {
		t.Errorf("stale append after reopen = %v, want ErrConflict", err)
	}
	r := mustAppend(t, s, agent, eventstore.Exactly(0), event("agent.v1.Ready"))
	if want := (eventstore.AppendResult{NextExpected: 1, Position: eventstore.Position{Commit: 5, Prepare: 5}}); r != want {
		t.Errorf("append after reopen = %+v, want %+v", r, want)
	}
}

func TestTornTailIsTruncated(t *testing.T) {
	frame := oneFrame(t)
	badSum := append([]byte{}, frame...)
	badSum[len(badSum)-1] ^= 0xff
	for _, c := range []struct {
		name string
		tail []byte
	}{
		{"half a frame", frame[:len(frame)/2]},
		{"part of a header", []byte{0x13, 0x37, 0x42}},
		{"unwritten zero blocks", make([]byte, 8192)},
		{"whole frame with a bad checksum", badSum},
		{"bad checksum, then unwritten blocks", append(badSum[:len(badSum):len(badSum)], make([]byte, 4096)...)},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir)
			stream := "callback-request-" + uuid.NewString()
			for i := range 3 {
				expected := eventstore.NoStream
				if i > 0 {
					expected = eventstore.Exactly(eventstore.Revision(i - 1))
				}
				mustAppend(t, s, stream, expected, event("callback.v1.Step"))
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			size := fileSize(t, dir)
			appendFile(t, dir, c.tail)

			s = open(t, dir)
			if got := fileSize(t, dir); got != size {
				t.Errorf("log is %d bytes after reopen, want the %d before the torn write", got, size)
			}
			if evs := mustRead(t, s, stream); len(evs) != 3 {
				t.Fatalf("%d events after reopen, want 3", len(evs))
			}
			mustAppend(t, s, stream, eventstore.Exactly(2), event("callback.v1.Step"))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(t, dir)
			if evs := mustRead(t, s, stream); len(evs) != 4 {
				t.Errorf("%d events after the second reopen, want 4", len(evs))
			}
		})
	}
}

func TestCorruptionInTheMiddleFailsOpen(t *testing.T) {
	for _, c := range []struct {
		name string
		at   int64 // offset in the first frame
	}{
		{"payload", 8 + 12 + 5},
		{"length", 8 + 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir)
			for range 3 {
				mustAppend(t, s, "callback-request-"+uuid.NewString(), eventstore.NoStream, event("callback.v1.Step"))
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			flipByte(t, dir, c.at)
			if s, err := embedded.Open(dir); !errors.Is(err, embedded.ErrCorrupt) {
				if err == nil {
					s.Close()
				}
				t.Fatalf("Open of a log damaged mid-file = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestNotAnEventLog(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "events.log"), []byte("hello, world\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := embedded.Open(dir); !errors.Is(err, embedded.ErrCorrupt) {
		t.Fatalf("Open of a foreign file = %v, want ErrCorrupt", err)
	}
}

func TestSecondOpenFails(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if s2, err := embedded.Open(dir); !errors.Is(err, embedded.ErrLocked) {
		if err == nil {
			s2.Close()
		}
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	open(t, dir) // the lock went with Close
}

func TestAfterClose(t *testing.T) {
	s := open(t, t.TempDir())
	stream := "callback-request-" + uuid.NewString()
	mustAppend(t, s, stream, eventstore.NoStream, event("callback.v1.CallbackRequested"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(t.Context(), stream, eventstore.Exactly(0), event("x.v1.X")); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Append = %v, want ErrClosed", err)
	}
	if _, err := s.ReadStream(t.Context(), stream, 0); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("ReadStream = %v, want ErrClosed", err)
	}
	err := s.SubscribeAll(t.Context(), eventstore.Position{}, func(context.Context, eventstore.RecordedEvent) error { return nil })
	if !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("SubscribeAll = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestInvalidAppendChangesNothing(t *testing.T) {
	s := open(t, t.TempDir())
	stream := "callback-request-" + uuid.NewString()
	ok := event("callback.v1.CallbackRequested")
	for _, c := range []struct {
		name     string
		stream   string
		expected eventstore.ExpectedRevision
		events   []eventstore.EventData
	}{
		{"empty stream", "", eventstore.NoStream, []eventstore.EventData{ok}},
		{"no events", stream, eventstore.NoStream, nil},
		{"id not a UUID", stream, eventstore.NoStream, []eventstore.EventData{{ID: "42", Type: "x.v1.X"}}},
		{"id twice", stream, eventstore.NoStream, []eventstore.EventData{ok, ok}},
		{"empty type", stream, eventstore.NoStream, []eventstore.EventData{{ID: uuid.NewString()}}},
		{"expectation below NoStream", stream, -2, []eventstore.EventData{ok}},
		{"too large", stream, eventstore.NoStream, []eventstore.EventData{{ID: uuid.NewString(), Type: "x.v1.X", Data: make([]byte, 17<<20)}}},
	} {
		_, err := s.Append(t.Context(), c.stream, c.expected, c.events...)
		if err == nil || errors.Is(err, eventstore.ErrConflict) {
			t.Errorf("%s: err = %v, want a validation error", c.name, err)
		}
	}
	if evs := mustRead(t, s, stream); len(evs) != 0 {
		t.Errorf("%d events after invalid appends, want none", len(evs))
	}
	mustAppend(t, s, stream, eventstore.NoStream, ok)
}

func open(t *testing.T, dir string, opts ...embedded.Option) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(dir, opts...)
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

func event(typ string) eventstore.EventData {
	id := uuid.NewString()
	return eventstore.EventData{ID: id, Type: typ, Data: []byte(id), Metadata: map[string]string{"causation-id": id}}
}

func mustAppend(t *testing.T, s eventstore.Store, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	r, err := s.Append(t.Context(), stream, expected, events...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustRead(t *testing.T, s eventstore.Store, stream string) []eventstore.RecordedEvent {
	t.Helper()
	evs, err := s.ReadStream(t.Context(), stream, 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// collect returns the first n events of the store in global order.
func collect(t *testing.T, s eventstore.Store, n int) []eventstore.RecordedEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var evs []eventstore.RecordedEvent
	err := s.SubscribeAll(ctx, eventstore.Position{}, func(_ context.Context, e eventstore.RecordedEvent) error {
		if evs = append(evs, e); len(evs) == n {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("SubscribeAll = %v after %d events", err, len(evs))
	}
	return evs
}

// oneFrame returns the bytes one Append adds to a log.
func oneFrame(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	s := open(t, dir)
	mustAppend(t, s, "callback-request-"+uuid.NewString(), eventstore.NoStream, event("callback.v1.Step"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "events.log"))
	if err != nil {
		t.Fatal(err)
	}
	return b[len("RBEVLOG1"):]
}

func fileSize(t *testing.T, dir string) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, "events.log"))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func appendFile(t *testing.T, dir string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "events.log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, dir string, at int64) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "events.log"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

// synctest.Test returns only once every goroutine started inside it has
// exited, and reports a deadlock if one is left blocked: Close must stop the
// writer and every subscription.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		s, err := embedded.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		stream := "callback-request-" + uuid.NewString()
		mustAppend(t, s, stream, eventstore.NoStream, event("callback.v1.CallbackRequested"))
		ended := make(chan error, 1)
		go func() {
			ended <- s.SubscribeAll(context.Background(), eventstore.Position{}, func(context.Context, eventstore.RecordedEvent) error { return nil })
		}()
		mustAppend(t, s, stream, eventstore.Exactly(0), event("callback.v1.CallbackScheduled"))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-ended; !errors.Is(err, eventstore.ErrClosed) {
			t.Errorf("SubscribeAll = %v, want ErrClosed", err)
		}
	})
}
