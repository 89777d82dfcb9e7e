package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
)

func TestZZDump(t *testing.T) {
	dir := os.Getenv("DUMP")
	if dir == "" {
		t.Skip()
	}
	st, err := embedded.Open(filepath.Join(dir, "data", "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var last time.Time
	ids := map[string]string{}
	pos := map[string]uint64{}
	go func() { time.Sleep(3 * time.Second); cancel() }()
	_ = st.SubscribeAll(ctx, eventstore.Position{}, func(ctx context.Context, r eventstore.RecordedEvent) error {
		name := r.Type[strings.LastIndex(r.Type, ".")+1:]
		ids[r.ID] = name + "@" + r.Stream[:strings.Index(r.Stream, "-")]
		pos[r.ID] = r.Position.Commit
		cause := ids[r.Metadata["causation-id"]]
		if cause == "" {
			cause = r.Metadata["causation-id"]
			if len(cause) > 12 { cause = cause[:12] }
		}
		d := r.Time.Sub(last)
		last = r.Time
		fmt.Printf("%d %s +%7.3fms %-40s %-22s <- %s #%d\n", r.Position.Commit, r.Time.Format("15:04:05.000000"), float64(d)/1e6, r.Stream[:min(len(r.Stream), 40)], name, cause, pos[r.Metadata["causation-id"]])
		return nil
	})
}
