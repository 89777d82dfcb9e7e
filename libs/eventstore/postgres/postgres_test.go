package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/eventstoretest"
	"github.com/ringback/ringback/libs/eventstore/postgres"
	"github.com/ringback/ringback/libs/eventstore/postgres/pgtest"
)

// Pools stay small in tests: many stores run at once on one test cluster
// (max_connections=300 under make test), each with a listener of its own.
const testConns = 4

func TestConformance(t *testing.T) {
	// One database for the whole suite, as a deployment shares one: the
	// cases write streams of their own and ignore the others' events.
	url := pgtest.Database(t)
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		return open(t, url)
	})
}

func open(t testing.TB, url string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	opts = append([]postgres.Option{postgres.WithMaxConns(testConns)}, opts...)
	s, err := postgres.Open(t.Context(), url, opts...)
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
	return eventstore.EventData{ID: id, Type: typ, Data: []byte("data of " + id)}
}

// collector runs SubscribeAll in a goroutine the test owns and hands the
// events of the streams it keeps to the test.
type collector struct {
	events chan eventstore.RecordedEvent
	cancel context.CancelFunc
	done   chan error
}

func collect(t *testing.T, s eventstore.Store, keep func(string) bool) *collector {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{events: make(chan eventstore.RecordedEvent, 1<<16), cancel: cancel, done: make(chan error, 1)}
	go func() {
		c.done <- s.SubscribeAll(ctx, eventstore.Position{}, func(_ context.Context, e eventstore.RecordedEvent) error {
			if keep(e.Stream) {
				c.events <- e
			}
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-c.done:
			_ = err // the cancel's, or what the test already read
		case <-time.After(15 * time.Second):
			t.Error("SubscribeAll did not return after cancel")
		}
	})
	return c
}

// next waits up to d for one event.
func (c *collector) next(d time.Duration) (eventstore.RecordedEvent, bool) {
	select {
	case e := <-c.events:
		return e, true
	case <-time.After(d):
		return eventstore.RecordedEvent{}, false
	}
}

// TestConcurrentAppendersLiveSubscriber is the trap of DESIGN.md section 3
// under load: many writers on many streams commit out of their transaction
// order all the time, and a live subscriber must still see every event once,
// in increasing positions, each stream in revision order.
func TestConcurrentAppendersLiveSubscriber(t *testing.T) {
	url := pgtest.Database(t)
	const writers, streamsPer, appends = 48, 4, 25
	w := open(t, url, postgres.WithMaxConns(24))
	r := open(t, url) // another "pod": woken by NOTIFY, not by its own appends
	prefix := "load-" + uuid.NewString()
	sub := collect(t, r, func(s string) bool { return strings.HasPrefix(s, prefix) })

	ctx := t.Context()
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			next := make([]eventstore.ExpectedRevision, streamsPer)
			for k := range next {
				next[k] = eventstore.NoStream
			}
			for n := range appends {
				k := n % streamsPer
				stream := fmt.Sprintf("%s-%d-%d", prefix, i, k)
				evs := []eventstore.EventData{event("test.Load")}
				if n%5 == 0 {
					evs = append(evs, event("test.Load")) // some appends of two
				}
				res, err := w.Append(ctx, stream, next[k], evs...)
				if err != nil {
					t.Errorf("append %s: %v", stream, err)
					return
				}
				next[k] = res.NextExpected
			}
		})
	}
	wg.Wait()
	want := writers * (appends + appends/5)

	seen := map[string]bool{}
	revs := map[string]eventstore.Revision{}
	var last eventstore.Position
	for n := range want {
		e, ok := sub.next(15 * time.Second)
		if !ok {
			t.Fatalf("subscriber saw %d of %d events", n, want)
		}
		if seen[e.ID] {
			t.Fatalf("event %s delivered twice", e.ID)
		}
		seen[e.ID] = true
		if !last.Less(e.Position) {
			t.Fatalf("event %d at %v does not follow %v", n, e.Position, last)
		}
		last = e.Position
		if e.Revision != revs[e.Stream] {
			t.Fatalf("%s: revision %d delivered when %d was due", e.Stream, e.Revision, revs[e.Stream])
		}
		revs[e.Stream]++
	}
	if e, ok := sub.next(200 * time.Millisecond); ok {
		t.Errorf("extra event %s %s@%d", e.ID, e.Stream, e.Revision)
	}
}

// TestOutOfOrderCommit forces the trap deterministically: a transaction takes
// a transaction id and writes an event, then stays open while a later append
// commits. The subscriber must hold the later event back until the earlier
// transaction ends, then deliver both, earlier first. The earlier transaction
// is a raw one, not the store's: nothing notifies its commit, so this also
// shows that events behind a foreign transaction arrive once it ends.
func TestOutOfOrderCommit(t *testing.T) {
	for _, end := range []string{"COMMIT", "ROLLBACK"} {
		t.Run(end, func(t *testing.T) {
			url := pgtest.Database(t)
			s := open(t, url)
			ctx := t.Context()
			early, late := "early-"+uuid.NewString(), "late-"+uuid.NewString()
			sub := collect(t, s, func(st string) bool { return st == early || st == late })

			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(context.Background()) //nolint:errcheck
			var xid uint64
			if err := tx.QueryRow(ctx, "SELECT pg_current_xact_id()").Scan(&xid); err != nil {
				t.Fatal(err)
			}
			e1 := event("test.Early")
			var outcome string
			if err := tx.QueryRow(ctx,
				"SELECT outcome FROM eventstore.append($1, '{-1}', '{1}', '{NULL}', '{NULL}', $2, $3, $4, '{\"\"}')",
				[]string{early}, []uuid.UUID{uuid.MustParse(e1.ID)}, []string{e1.Type}, [][]byte{e1.Data},
			).Scan(&outcome); err != nil || outcome != "ok" {
				t.Fatalf("raw append: %q, %v", outcome, err)
			}

			e2 := event("test.Late")
			res, err := s.Append(ctx, late, eventstore.NoStream, e2)
			if err != nil {
				t.Fatal(err)
			}
			if res.Position.Commit <= xid {
				t.Fatalf("later append's transaction %d is not after the open one's %d", res.Position.Commit, xid)
			}
			// Committed, notified, and still not deliverable.
			if e, ok := sub.next(time.Second); ok {
				t.Fatalf("%s@%d at %v delivered while transaction %d is open", e.Stream, e.Revision, e.Position, xid)
			}

			if _, err := tx.Exec(ctx, end); err != nil {
				t.Fatal(err)
			}
			var got []eventstore.RecordedEvent
			wantIDs := []string{e1.ID, e2.ID}
			if end == "ROLLBACK" {
				wantIDs = wantIDs[1:]
			}
			for range wantIDs {
				// The held-back check polls soon (well under a second); the
				// bound is what a loaded CI machine needs, not the figure.
				e, ok := sub.next(10 * time.Second)
				if !ok {
					t.Fatalf("after %s: got %d of %d events", end, len(got), len(wantIDs))
				}
				got = append(got, e)
			}
			for i, e := range got {
				if e.ID != wantIDs[i] {
					t.Errorf("event %d: %s, want %s", i, e.ID, wantIDs[i])
				}
			}
			if got[0].Position.Commit != xid && end == "COMMIT" {
				t.Errorf("early event at %v, want transaction %d", got[0].Position, xid)
			}
		})
	}
}

// TestNotifyWakesOtherProcess: a subscriber of one store learns of an append
// through another store (another pod) by NOTIFY, not by its poll.
func TestNotifyWakesOtherProcess(t *testing.T) {
	url := pgtest.Database(t)
	w := open(t, url)
	r := open(t, url, postgres.WithPollInterval(time.Hour))
	stream := "notify-" + uuid.NewString()
	sub := collect(t, r, func(s string) bool { return s == stream })
	time.Sleep(100 * time.Millisecond) // let it go idle
	var expected = eventstore.NoStream
	for i := range 3 {
		res, err := w.Append(t.Context(), stream, expected, event("test.Notified"))
		if err != nil {
			t.Fatal(err)
		}
		expected = res.NextExpected
		if _, ok := sub.next(5 * time.Second); !ok {
			t.Fatalf("append %d not delivered: NOTIFY did not wake the subscriber", i)
		}
	}
}

func TestCheckpoints(t *testing.T) {
	s := open(t, pgtest.Database(t))
	ctx := t.Context()
	load := func(name string) eventstore.Position {
		t.Helper()
		p, err := s.LoadCheckpoint(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	save := func(name string, p eventstore.Position) {
		t.Helper()
		if err := s.SaveCheckpoint(ctx, name, p); err != nil {
			t.Fatal(err)
		}
	}
	if p := load("never-saved"); p != (eventstore.Position{}) {
		t.Errorf("never saved: %v, want zero", p)
	}
	pos := func(c, p uint64) eventstore.Position { return eventstore.Position{Commit: c, Prepare: p} }
	for _, c := range []struct {
		save, want eventstore.Position
	}{
		{pos(5, 7), pos(5, 7)},
		{pos(5, 6), pos(5, 7)}, // back within a commit: ignored
		{pos(4, 99), pos(5, 7)},
		{pos(5, 7), pos(5, 7)},
		{pos(5, 8), pos(5, 8)},
		{pos(9, 1), pos(9, 1)},
		{pos(1<<64-1, 1<<64-1), pos(1<<64-1, 1<<64-1)}, // the whole uint64 range
	} {
		save("relay", c.save)
		if got := load("relay"); got != c.want {
			t.Errorf("after saving %v: %v, want %v", c.save, got, c.want)
		}
	}
	if p := load("other"); p != (eventstore.Position{}) {
		t.Errorf("names are independent: other = %v", p)
	}

	// Replicas saving at once in any order: the greatest wins.
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			if err := s.SaveCheckpoint(ctx, "race", pos(uint64(100+i%8), uint64(i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := load("race"); got != pos(107, 31) {
		t.Errorf("after concurrent saves: %v, want %v", got, pos(107, 31))
	}
	if err := s.SaveCheckpoint(ctx, "", pos(1, 1)); err == nil {
		t.Error("empty name saved")
	}
	s.Close()
	if _, err := s.LoadCheckpoint(ctx, "relay"); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("load after Close: %v, want ErrClosed", err)
	}
	if err := s.SaveCheckpoint(ctx, "relay", pos(10, 1)); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("save after Close: %v, want ErrClosed", err)
	}
}

// TestOpenConcurrently: pods starting at once on an empty database all get
// the schema, once.
func TestOpenConcurrently(t *testing.T) {
	url := pgtest.Database(t)
	const pods = 8
	stores := make([]*postgres.Store, pods)
	errs := make([]error, pods)
	var wg sync.WaitGroup
	for i := range pods {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), url, postgres.WithMaxConns(2)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	stream := "pods-" + uuid.NewString()
	expected := eventstore.NoStream
	for i, s := range stores {
		res, err := s.Append(t.Context(), stream, expected, event("test.Pod"))
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		expected = res.NextExpected
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var versions int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM eventstore.schema_versions").Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if versions != 1 {
		t.Errorf("%d schema versions recorded, want 1", versions)
	}
	// Reopening a current schema changes nothing.
	open(t, url)
}

func TestOpenUnreachable(t *testing.T) {
	start := time.Now()
	// Port 1 on loopback: refused at once, no server needed.
	_, err := postgres.Open(t.Context(), "postgres://ringback:secret@127.0.0.1:1/ringback?connect_timeout=5")
	if err == nil {
		t.Fatal("Open of an unreachable server succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open took %v to fail", d)
	}
	if msg := err.Error(); !strings.Contains(msg, "127.0.0.1") || strings.Contains(msg, "secret") {
		t.Errorf("error %q should name the server and hide the password", msg)
	}
}

// TestAppendRules covers what the suite does not: validation, and conflicts
// found on each of the append function's paths.
func TestAppendRules(t *testing.T) {
	s := open(t, pgtest.Database(t))
	ctx := t.Context()
	stream := "rules-" + uuid.NewString()
	a, b := event("test.A"), event("test.B")
	if _, err := s.Append(ctx, stream, eventstore.NoStream, a, b); err != nil {
		t.Fatal(err)
	}
	conflict := func(name string, expected, actual eventstore.ExpectedRevision, evs ...eventstore.EventData) {
		t.Helper()
		_, err := s.Append(ctx, stream, expected, evs...)
		var ce *eventstore.ConflictError
		if !errors.As(err, &ce) || ce.Expected != expected || ce.Actual != actual || ce.Stream != stream {
			t.Errorf("%s: %v, want a conflict at expected %d actual %d", name, err, expected, actual)
		}
	}
	// Expectation right, an id already in the stream: the fast path's
	// unique violation.
	conflict("known id as a new event", 1, 1, event("test.C"), a)
	// Expectation wrong, unknown ids.
	conflict("stale expectation", 0, 1, event("test.C"))
	// First id known, right place, but the rest differs.
	conflict("partial replay", eventstore.NoStream, 1, a, event("test.C"))
	if got, _ := s.ReadStream(ctx, stream, 0); len(got) != 2 {
		t.Errorf("stream has %d events after conflicts, want 2", len(got))
	}

	for _, c := range []struct {
		name   string
		stream string
		evs    []eventstore.EventData
	}{
		{"empty stream", "", []eventstore.EventData{event("t")}},
		{"NUL in stream", "a\x00b", []eventstore.EventData{event("t")}},
		{"no events", stream, nil},
		{"bad id", stream, []eventstore.EventData{{ID: "nope", Type: "t"}}},
		{"repeated id", stream, []eventstore.EventData{a, a}},
		{"empty type", stream, []eventstore.EventData{{ID: uuid.NewString()}}},
	} {
		if _, err := s.Append(ctx, c.stream, 1, c.evs...); err == nil || errors.Is(err, eventstore.ErrConflict) {
			t.Errorf("%s: %v, want a validation error", c.name, err)
		}
	}

	// Metadata PostgreSQL text cannot hold survives as JSON.
	odd := event("test.Odd")
	odd.Metadata = map[string]string{"nul": "a\x00b", "k\x00": ""}
	if _, err := s.Append(ctx, stream, 1, odd); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadStream(ctx, stream, 2)
	if err != nil || len(got) != 1 || got[0].Metadata["nul"] != "a\x00b" || len(got[0].Metadata) != 2 {
		t.Errorf("read back %+v, %v", got, err)
	}
}

// TestBatchIsolation: appends share transactions (group commit), but not
// their fate. An append the server refuses (here a stream name too long for
// its index) fails alone while the appends committed beside it succeed.
func TestBatchIsolation(t *testing.T) {
	s := open(t, pgtest.Database(t), postgres.WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil))))
	ctx := t.Context()
	const writers = 32
	errs := make([]error, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("batch-%d-%s", i, uuid.NewString())
			if i == writers/2 {
				// Beyond a btree index row even compressed.
				noise := make([]byte, 8000)
				rand.Read(noise)
				stream += hex.EncodeToString(noise)
			}
			<-start
			_, errs[i] = s.Append(ctx, stream, eventstore.NoStream, event("test.Batched"))
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		switch {
		case i == writers/2 && err == nil:
			t.Errorf("append to an over-long stream name succeeded")
		case i != writers/2 && err != nil:
			t.Errorf("append %d failed beside a refused one: %v", i, err)
		}
	}
}

// rawAppend calls the append function in tx, as the store does, for one
// append without a fence.
func rawAppend(t *testing.T, tx pgx.Tx, stream string, expected eventstore.ExpectedRevision, e eventstore.EventData) string {
	t.Helper()
	var outcome string
	if err := tx.QueryRow(t.Context(),
		"SELECT outcome FROM eventstore.append($1, $2, '{1}', '{NULL}', '{NULL}', $3, $4, $5, '{\"\"}')",
		[]string{stream}, []int64{int64(expected)}, []uuid.UUID{uuid.MustParse(e.ID)}, []string{e.Type}, [][]byte{e.Data},
	).Scan(&outcome); err != nil {
		t.Fatalf("raw append: %v", err)
	}
	return outcome
}

// TestRetryOutcomes drives the append function's two "retry" answers.
func TestRetryOutcomes(t *testing.T) {
	url := pgtest.Database(t)
	s := open(t, url)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())

	t.Run("stream created while waiting", func(t *testing.T) {
		// Another process creates the stream with the same event and has not
		// committed: the store's append waits, is told to retry, and then
		// finds its event there, a replay at the other process's position.
		stream, e := "created-"+uuid.NewString(), event("test.Created")
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(context.Background()) //nolint:errcheck
		if o := rawAppend(t, tx, stream, eventstore.NoStream, e); o != "ok" {
			t.Fatalf("raw append: %s", o)
		}
		var xid uint64
		if err := tx.QueryRow(ctx, "SELECT pg_current_xact_id()").Scan(&xid); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		var res eventstore.AppendResult
		go func() {
			defer close(done)
			res, err = s.Append(ctx, stream, eventstore.NoStream, e)
		}()
		time.Sleep(200 * time.Millisecond)
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		<-done
		if err != nil || res.NextExpected != 0 || res.Position.Commit != xid {
			t.Errorf("append = %+v, %v; want a replay at revision 0 in transaction %d", res, err, xid)
		}
	})

	t.Run("last written by a later transaction", func(t *testing.T) {
		// A transaction that got its id before the stream's last append
		// must not write after it: its events would sort before.
		stream := "later-" + uuid.NewString()
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(context.Background()) //nolint:errcheck
		if _, err := tx.Exec(ctx, "SELECT pg_current_xact_id()"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, stream, eventstore.NoStream, event("test.First")); err != nil {
			t.Fatal(err)
		}
		if o := rawAppend(t, tx, stream, 0, event("test.Second")); o != "retry" {
			t.Errorf("append by an older transaction: %s, want retry", o)
		}
	})
}

// TestFenceAtomicWithTakeover: a fenced append that meets a takeover in
// progress waits for it, and is refused if it commits, let through if it
// rolls back. The check is made under the lease's row lock, not on a stale
// reading of it.
func TestFenceAtomicWithTakeover(t *testing.T) {
	url := pgtest.Database(t)
	s := open(t, url)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, end := range []string{"COMMIT", "ROLLBACK"} {
		t.Run(end, func(t *testing.T) {
			name, stream := "lease-"+uuid.NewString(), "fenced-"+uuid.NewString()
			a, err := s.AcquireLease(ctx, name, "a", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(context.Background()) //nolint:errcheck
			if _, err := tx.Exec(ctx,
				"UPDATE eventstore.leases SET holder = 'b', generation = generation + 1 WHERE name = $1", name); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := s.Append(eventstore.WithFence(ctx, a), stream, eventstore.NoStream, event("test.ByA"))
				done <- err
			}()
			select {
			case err := <-done:
				t.Fatalf("fenced append did not wait for the takeover in progress: %v", err)
			case <-time.After(300 * time.Millisecond):
			}
			if _, err := tx.Exec(ctx, end); err != nil {
				t.Fatal(err)
			}
			err = <-done
			switch {
			case end == "COMMIT" && !errors.Is(err, eventstore.ErrFenced):
				t.Errorf("append after the takeover committed: %v, want ErrFenced", err)
			case end == "ROLLBACK" && err != nil:
				t.Errorf("append after the takeover rolled back: %v", err)
			}
		})
	}
}
