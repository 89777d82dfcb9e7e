package embedded

import (
	"errors"
	"testing"
)

func TestAppendLogChunks(t *testing.T) {
	var l appendLog
	const n = 3<<appendChunkBits + 5
	for i := range n {
		if got := l.add(appendLoc{off: int64(i), firstSeq: uint64(2*i + 1), count: 2}); got != i {
			t.Fatalf("add %d returned %d", i, got)
		}
	}
	v := l.view(n - 3)       // the last three pending
	l.add(appendLoc{off: n}) // added after the view: not in it, and the view's entries do not move
	for _, from := range []int{0, 1, appendChunkMask, 1 << appendChunkBits, n - 4, n - 3} {
		next := from
		if err := v.each(from, func(run []appendLoc) error {
			if len(run) == 0 || len(run) > 1<<appendChunkBits {
				t.Fatalf("from %d: a run of %d", from, len(run))
			}
			for _, loc := range run {
				if loc.off != int64(next) {
					t.Fatalf("from %d: location %d where %d was due", from, loc.off, next)
				}
				next++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if next != v.n {
			t.Fatalf("from %d: ended at %d, want %d", from, next, v.n)
		}
	}
	for _, seq := range []uint64{1, 2, 3, 2 * (1 << appendChunkBits), uint64(2*(n-3) - 1)} {
		i := v.search(func(l appendLoc) bool { return l.lastSeq() >= seq })
		if want := int((seq - 1) / 2); i != want {
			t.Errorf("search for seq %d: %d, want %d", seq, i, want)
		}
	}
	if i := v.search(func(l appendLoc) bool { return l.lastSeq() >= uint64(2*n) }); i != v.n {
		t.Errorf("search past the view: %d, want %d", i, v.n)
	}
	stop := errors.New("stop")
	runs := 0
	if err := v.each(0, func([]appendLoc) error { runs++; return stop }); !errors.Is(err, stop) || runs != 1 {
		t.Errorf("each went on after an error: %v after %d runs", err, runs)
	}
}
