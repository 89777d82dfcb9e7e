package embedded

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ringback/ringback/libs/eventstore"
)

// The writer calls SyncFirst's function before it writes a batch, so what
// it makes durable (the keys the batch's events are sealed with) is on disk
// before any of the batch is; when it fails, the batch fails and nothing of
// it is indexed or written, and the store goes on.
func TestSyncFirstRunsBeforeEachBatchIsWritten(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	logSize := func() int64 {
		fi, err := os.Stat(filepath.Join(dir, logName))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	var calls int
	var sizeAtCall int64
	failWith := error(nil)
	s.SyncFirst(func() error {
		calls++
		sizeAtCall = logSize()
		return failWith
	})

	before := logSize()
	if _, err := s.Append(ctx, "a-1", eventstore.NoStream, ev("one")); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || sizeAtCall != before || logSize() <= before {
		t.Fatalf("calls %d, log %d bytes at the call, %d before, %d after: want one call before the write", calls, sizeAtCall, before, logSize())
	}

	failWith = errors.New("key log: sync failed")
	before = logSize()
	if _, err := s.Append(ctx, "a-2", eventstore.NoStream, ev("two")); !errors.Is(err, failWith) {
		t.Fatalf("append with a failing SyncFirst: %v, want its error", err)
	}
	if got, err := s.ReadStream(ctx, "a-2", 0); err != nil || len(got) != 0 {
		t.Fatalf("a failed batch left %d events (%v)", len(got), err)
	}
	if logSize() != before {
		t.Fatalf("a failed batch wrote %d bytes", logSize()-before)
	}

	failWith = nil
	res, err := s.Append(ctx, "a-2", eventstore.NoStream, ev("two"))
	if err != nil || res.NextExpected != eventstore.Exactly(0) {
		t.Fatalf("the store after a failed SyncFirst: %+v, %v", res, err)
	}
}
