package embedded

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
)

// Every frame in the log is one write and one sync, so fewer frames than
// appends proves concurrent appends shared syncs. It counts, it does not time.
func TestConcurrentAppendsShareSyncs(t *testing.T) {
	const writers, each = 64, 10
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			<-start
			stream := fmt.Sprintf("agent-session-%d", w)
			expected := eventstore.NoStream
			for range each {
				r, err := s.Append(t.Context(), stream, expected,
					eventstore.EventData{ID: uuid.NewString(), Type: "agent.v1.StateChanged"})
				if err != nil {
					t.Error(err)
					return
				}
				expected = r.NextExpected
			}
		})
	}
	close(start)
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	frames, records := logFrames(t, dir)
	if records != writers*each {
		t.Fatalf("%d records in the log, want %d", records, writers*each)
	}
	if frames >= records {
		t.Errorf("%d appends took %d syncs: no group commit", records, frames)
	}
	t.Logf("%d appends from %d writers in %d syncs", records, writers, frames)
}

// logFrames counts the frames (each one write and one sync) and records
// (each one Append) in the log of the closed store in dir.
func logFrames(t *testing.T, dir string) (frames, records int) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	_, err = scanLog(f, fi.Size(), func(_ int64, payload []byte) error {
		frames++
		for pos := 0; pos < len(payload); records++ {
			_, n, err := decodeRecord(payload[pos:], false)
			if err != nil {
				return err
			}
			pos += n
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return frames, records
}
