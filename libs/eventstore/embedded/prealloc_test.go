package embedded_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
)

// The log reserves space ahead of its end while open (on Linux), leaves
// none after Close, and a copy taken while it was open (what a kill -9
// leaves: the frames, then zeros) opens with every acknowledged event.
func TestReservedSpaceIsNoEvent(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	stream := "callback-request-" + uuid.NewString()
	for i := range 20 {
		mustAppend(t, s, stream, eventstore.ExpectedRevision(i-1), event("callback.v1.Step"))
	}
	if runtime.GOOS == "linux" {
		// What 20 small frames take is well under a megabyte.
		if size := fileSize(t, dir); size < 1<<20 {
			t.Errorf("log is %d bytes while open: no space reserved ahead of it", size)
		}
	}
	crashed := t.TempDir()
	b, err := os.ReadFile(filepath.Join(dir, "events.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(crashed, "events.log"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	closed := fileSize(t, dir)
	if closed >= 1<<20 {
		t.Errorf("log is %d bytes after Close: the reserved space stayed", closed)
	}

	c := open(t, crashed)
	if evs := mustRead(t, c, stream); len(evs) != 20 {
		t.Fatalf("%d events in the copy taken while open, want 20", len(evs))
	}
	if got := fileSize(t, crashed); got != closed {
		t.Errorf("the copy is %d bytes once opened, want the %d of the closed log", got, closed)
	}
	mustAppend(t, c, stream, eventstore.Exactly(19), event("callback.v1.Step"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = open(t, crashed)
	if evs := mustRead(t, c, stream); len(evs) != 21 {
		t.Fatalf("%d events after appending to the copy and reopening, want 21", len(evs))
	}
}
