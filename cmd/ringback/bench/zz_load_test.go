package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
	"github.com/ringback/ringback/services/agent-session/agent"
)

func TestZZLoad(t *testing.T) {
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
	for _, stream := range []string{"agent-bench-agent-1", "router-agent-bench-agent-1"} {
		for i := 0; i < 3; i++ {
			t0 := time.Now()
			recs, _ := st.ReadStream(ctx, stream, 0)
			t1 := time.Now()
			for _, r := range recs {
				_, _ = eventstore.Decode(r)
			}
			t2 := time.Now()
			if stream == "agent-bench-agent-1" {
				_, _ = eventstore.Load(ctx, st, stream, agg)
			}
			t3 := time.Now()
			t.Logf("%s: %d events: ReadStream %v, decode %v, Load(agent fold) %v", stream, len(recs), t1.Sub(t0), t2.Sub(t1), t3.Sub(t2))
		}
	}
}
