package bench

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
	"github.com/ringback/ringback/services/agent-session/agent"
)

func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func TestZZAlloc(t *testing.T) {
	dir := os.Getenv("DUMP")
	if dir == "" {
		t.Skip()
	}
	st, err := embedded.Open(filepath.Join(dir, "data", "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	agg := eventstore.Aggregate[agent.State]{Evolve: agent.Evolve}
	t.Logf("Load agent stream: %d KB", allocated(func() { _, _ = eventstore.Load(ctx, st, "agent-bench-agent-1", agg) })>>10)
	t.Logf("ReadStream router-agent stream: %d KB", allocated(func() { _, _ = st.ReadStream(ctx, "router-agent-bench-agent-1", 0) })>>10)
	n := 0
	b := allocated(func() {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_ = st.SubscribeAll(sctx, eventstore.Position{}, func(_ context.Context, r eventstore.RecordedEvent) error {
			n++
			if _, err := eventstore.Decode(r); err != nil {
				return nil
			}
			return nil
		})
	})
	t.Logf("SubscribeAll+Decode whole log: %d events, %d MB, %d B/event", n, b>>20, b/uint64(n))
}
