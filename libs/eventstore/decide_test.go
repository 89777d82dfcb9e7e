package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// counter counts the CallbackCancelled events of a stream.
var counter = eventstore.Aggregate[int]{Evolve: func(n int, e proto.Message) int {
	if _, ok := e.(*callbackv1.CallbackCancelled); ok {
		return n + 1
	}
	return n
}}

func add(n int) func(int) ([]proto.Message, error) {
	return func(int) ([]proto.Message, error) {
		out := make([]proto.Message, n)
		for i := range out {
			out[i] = &callbackv1.CallbackCancelled{CallbackId: "c"}
		}
		return out, nil
	}
}

func open(t *testing.T) eventstore.Store {
	st, err := embedded.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestExecuteIsIdempotentByCauseAndRetriesConflicts(t *testing.T) {
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("cached=%v", cached), func(t *testing.T) {
			st, ctx := open(t), context.Background()
			var cache *eventstore.Cache[int]
			if cached {
				cache = eventstore.NewCache[int](2)
			}
			exec := func(cause string, n int) eventstore.Outcome[int] {
				out, err := eventstore.ExecuteCached(ctx, st, cache, "s-1", counter, eventstore.Cause{ID: cause}, add(n))
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			if out := exec("a", 2); out.State != 2 || out.Replay {
				t.Fatalf("first: %+v", out)
			}
			if out := exec("a", 2); out.State != 2 || !out.Replay {
				t.Fatalf("redelivered cause: %+v", out)
			}
			// Another writer, not through the cache, appends meanwhile.
			if _, err := eventstore.Execute(ctx, st, "s-1", counter, eventstore.Cause{ID: "other"}, add(1)); err != nil {
				t.Fatal(err)
			}
			if out := exec("b", 1); out.State != 4 {
				t.Fatalf("after another writer: %+v", out)
			}
			// Concurrent writers on one stream: every one lands once.
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := eventstore.ExecuteCached(ctx, st, cache, "s-1", counter,
						eventstore.Cause{ID: fmt.Sprint("w", i)}, add(1)); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			l, err := eventstore.Load(ctx, st, "s-1", counter)
			if err != nil || l.State != 24 {
				t.Fatalf("total %d, %v; want 24", l.State, err)
			}
			// More streams than the cache holds: still right.
			for i := range 5 {
				s := fmt.Sprint("s-x", i)
				if _, err := eventstore.ExecuteCached(ctx, st, cache, s, counter, eventstore.Cause{ID: "1"}, add(1)); err != nil {
					t.Fatal(err)
				}
				out, _ := eventstore.ExecuteCached(ctx, st, cache, s, counter, eventstore.Cause{ID: "1"}, add(1))
				if !out.Replay || out.State != 1 {
					t.Fatalf("%s: %+v", s, out)
				}
			}
		})
	}
}

// reads counts ReadStream calls.
type reads struct {
	eventstore.Store
	n int
}

func (r *reads) ReadStream(ctx context.Context, stream string, from eventstore.Revision) ([]eventstore.RecordedEvent, error) {
	r.n++
	return r.Store.ReadStream(ctx, stream, from)
}

// recs counts the records ReadStream returns.
type recs struct {
	eventstore.Store
	n int
}

func (r *recs) ReadStream(ctx context.Context, stream string, from eventstore.Revision) ([]eventstore.RecordedEvent, error) {
	out, err := r.Store.ReadStream(ctx, stream, from)
	r.n += len(out)
	return out, err
}

// A cache remembers what its caller appended, so the next command does
// not read its own events back; what another writer appended it still
// reads (issue 12).
func TestExecuteCachedDoesNotReadItsOwnAppendsBack(t *testing.T) {
	st, ctx := open(t), context.Background()
	r := &recs{Store: st}
	cache := eventstore.NewCache[int](10)
	exec := func(cause string) eventstore.Outcome[int] {
		t.Helper()
		out, err := eventstore.ExecuteCached(ctx, r, cache, "s-1", counter, eventstore.Cause{ID: cause}, add(1))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for i := range 5 {
		exec(fmt.Sprint("c", i))
	}
	if r.n != 0 {
		t.Fatalf("read %d records back; want 0", r.n)
	}
	if out := exec("c2"); !out.Replay || out.State != 5 {
		t.Fatalf("redelivered: %+v", out)
	}
	if _, err := eventstore.Execute(ctx, st, "s-1", counter, eventstore.Cause{ID: "other"}, add(1)); err != nil {
		t.Fatal(err)
	}
	if out := exec("c5"); out.State != 7 || r.n != 1 {
		t.Fatalf("after another writer: %+v, %d records read; want state 7, 1 read", out, r.n)
	}
}

// ExecuteFrom decides from what the caller read, so a command reads its
// stream once; read before another writer's append, it conflicts, reads
// again and still lands once, on the fresh state.
func TestExecuteFromReadsOnceAndStaysCorrectWhenStale(t *testing.T) {
	st, ctx := open(t), context.Background()
	r := &reads{Store: st}
	if _, err := eventstore.Execute(ctx, st, "s-1", counter, eventstore.Cause{ID: "a"}, add(1)); err != nil {
		t.Fatal(err)
	}
	l, err := eventstore.Load(ctx, r, "s-1", counter)
	if err != nil {
		t.Fatal(err)
	}
	out, err := eventstore.ExecuteFrom(ctx, r, l, "s-1", counter, eventstore.Cause{ID: "b"}, add(1))
	if err != nil || out.State != 2 || r.n != 1 {
		t.Fatalf("fresh: %+v %v after %d reads; want state 2 after 1 read", out, err, r.n)
	}
	// A replay of a cause the read stream holds is seen without a read.
	l, _ = eventstore.Load(ctx, r, "s-1", counter)
	r.n = 0
	if out, err := eventstore.ExecuteFrom(ctx, r, l, "s-1", counter, eventstore.Cause{ID: "b"}, add(1)); err != nil || !out.Replay || r.n != 0 {
		t.Fatalf("replay: %+v %v after %d reads", out, err, r.n)
	}
	// Stale: another writer appended after the read.
	if _, err := eventstore.Execute(ctx, st, "s-1", counter, eventstore.Cause{ID: "other"}, add(1)); err != nil {
		t.Fatal(err)
	}
	r.n = 0
	out, err = eventstore.ExecuteFrom(ctx, r, l, "s-1", counter, eventstore.Cause{ID: "c"}, add(1))
	if err != nil || out.State != 4 || r.n != 1 {
		t.Fatalf("stale: %+v %v after %d reads; want state 4 after 1 read again", out, err, r.n)
	}
	// A Loaded that did not come from Load (the zero value) is read.
	r.n = 0
	if out, err := eventstore.ExecuteFrom(ctx, r, eventstore.Loaded[int]{}, "s-1", counter, eventstore.Cause{ID: "d"}, add(1)); err != nil || out.State != 5 || r.n != 1 {
		t.Fatalf("zero Loaded: %+v %v after %d reads", out, err, r.n)
	}
}

// Commands through one Cache on one stream take turns in the process:
// none of them decides twice (a conflict would make it), and a command
// that gives up waiting leaves nothing held.
func TestExecuteCachedTakesTurnsInTheProcess(t *testing.T) {
	st, ctx := open(t), context.Background()
	cache := eventstore.NewCache[int](10)
	const n = 32
	var (
		mu        sync.Mutex
		decisions int
		wg        sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			_, err := eventstore.ExecuteCached(ctx, st, cache, "s-1", counter, eventstore.Cause{ID: fmt.Sprint("c", i)},
				func(s int) ([]proto.Message, error) {
					mu.Lock()
					decisions++
					mu.Unlock()
					return add(1)(s)
				})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if decisions != n {
		t.Errorf("%d decisions for %d commands: some conflicted with one another", decisions, n)
	}
	if l, err := eventstore.Load(ctx, st, "s-1", counter); err != nil || l.State != n {
		t.Fatalf("stream holds %d, %v; want %d", l.State, err, n)
	}

	// One waits while another holds the turn, and gives up.
	held := make(chan struct{})
	release := make(chan struct{})
	go func() {
		_, _ = eventstore.ExecuteCached(ctx, st, cache, "s-1", counter, eventstore.Cause{ID: "holder"},
			func(s int) ([]proto.Message, error) {
				close(held)
				<-release
				return add(1)(s)
			})
	}()
	<-held
	wctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := eventstore.ExecuteCached(wctx, st, cache, "s-1", counter, eventstore.Cause{ID: "waiter"}, add(1)); !errors.Is(err, context.Canceled) {
		t.Errorf("a waiter whose context ended: %v, want context.Canceled", err)
	}
	close(release)
	out, err := eventstore.ExecuteCached(ctx, st, cache, "s-1", counter, eventstore.Cause{ID: "after"}, add(1))
	if err != nil || out.State != n+2 {
		t.Fatalf("after: %+v, %v; want state %d", out, err, n+2)
	}
	if h := cache.Turns(); h != 0 {
		t.Errorf("%d streams still held", h)
	}
}
