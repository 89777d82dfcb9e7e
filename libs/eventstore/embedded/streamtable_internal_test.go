package embedded

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestStreamTable(t *testing.T) {
	tb := newStreamTable()
	if tb.get("a") != nil {
		t.Fatal("an empty table has a stream")
	}
	// Enough streams to cross index chunks, and names long enough to cross
	// name chunks, one of them longer than a chunk.
	long := strings.Repeat("x", nameChunk+10)
	var names []string
	for i := range 3*(1<<streamChunkBits) + 7 {
		names = append(names, fmt.Sprintf("intake-callback-%036d", i))
	}
	names = append(names, long, "")
	first := map[string]*streamIndex{}
	for i, n := range names {
		st := tb.getOrAdd(n)
		st.entries = append(st.entries, entry{seq: uint64(i + 1)})
		first[n] = st
	}
	if tb.getOrAdd(names[5]) != first[names[5]] {
		t.Fatal("getOrAdd added a stream the table had")
	}
	if tb.len() != len(names) {
		t.Fatalf("len %d, want %d", tb.len(), len(names))
	}
	for i, n := range names {
		st := tb.get(n)
		if st == nil || st != first[n] || len(st.entries) != 1 || st.entries[0].seq != uint64(i+1) {
			t.Fatalf("stream %d (%.20q): %+v, want the one added (it must not move)", i, n, st)
		}
	}
	if tb.get("intake-callback-x") != nil || tb.get(long[:100]) != nil {
		t.Fatal("a name never added was found")
	}
	if len(tb.names) < 2 {
		t.Fatalf("%d name chunks: the test meant to cross them", len(tb.names))
	}
}

func TestStreamTableCollisions(t *testing.T) {
	tb := newStreamTable()
	const h = 42
	a, b, c := tb.insert("agent-1", h), tb.insert("agent-2", h), tb.insert("agent-3", h)
	other := tb.insert("other", 7)
	for name, want := range map[string]*streamIndex{"agent-1": a, "agent-2": b, "agent-3": c} {
		if got := tb.lookup(name, h); got != want {
			t.Errorf("lookup %s: %p, want %p", name, got, want)
		}
	}
	if tb.lookup("agent-4", h) != nil || tb.lookup("other", h) != nil || tb.lookup("agent-1", 7) != nil {
		t.Error("a name was found under a hash it was not added with")
	}
	if tb.lookup("other", 7) != other {
		t.Error("other stream lost")
	}
}

// BenchmarkGCWithStreams is the garbage collector's full cycle over a
// store that indexes one stream of one event per callback, as intake's is
// (issue 12): the stream index is walked in every cycle's mark phase.
//
//	go test -run '^$' -bench GCWithStreams -benchtime 5x ./eventstore/embedded/
func BenchmarkGCWithStreams(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s, err := Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			s.mu.Lock()
			ev := []event{{}}
			for i := range n {
				ev[0].id = uuid.New()
				s.index(&record{firstSeq: uint64(i + 1), stream: "intake-callback-" + ev[0].id.String(), events: ev}, appendLoc{})
			}
			s.mu.Unlock()
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			var took time.Duration
			for b.Loop() {
				start := time.Now()
				runtime.GC()
				took += time.Since(start)
			}
			b.ReportMetric(float64(took.Microseconds())/float64(b.N)/1000, "ms/gc")
			b.ReportMetric(float64(m.HeapAlloc)/float64(n), "B/stream")
			b.ReportMetric(float64(m.HeapObjects)/float64(n), "objects/stream")
			runtime.KeepAlive(s)
		})
	}
}
