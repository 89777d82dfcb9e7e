package embedded_test

import (
	"errors"
	"testing"

	"github.com/ringback/ringback/libs/eventstore"
)

// Idempotency and conflicts hold for a stream's ids whether they are
// searched (a short stream) or mapped (a long one), before and after the
// stream grows past the change, and after a reopen rebuilds either.
func TestEventIDsInShortAndLongStreams(t *testing.T) {
	for _, n := range []int{3, 31, 32, 33, 100} {
		dir := t.TempDir()
		s := open(t, dir)
		stream := "trail-long"
		var firsts []eventstore.EventData
		var results []eventstore.AppendResult
		for i := range n {
			e := event("x.v1.E")
			firsts = append(firsts, e)
			results = append(results, mustAppend(t, s, stream, eventstore.ExpectedRevision(i-1), e))
		}
		check := func(when string) {
			t.Helper()
			for _, i := range []int{0, n / 2, n - 1} {
				// The same append again at its own expectation: a replay.
				if got := mustAppend(t, s, stream, eventstore.ExpectedRevision(i-1), firsts[i]); got != results[i] {
					t.Errorf("%d events, %s: replay of revision %d = %+v, want %+v", n, when, i, got, results[i])
				}
				// A known id at the head: a conflict, never a second copy.
				if _, err := s.Append(t.Context(), stream, eventstore.ExpectedRevision(n-1), firsts[i]); !errors.Is(err, eventstore.ErrConflict) {
					t.Errorf("%d events, %s: id of revision %d appended at the head = %v, want ErrConflict", n, when, i, err)
				}
				// A known id after a new one.
				if _, err := s.Append(t.Context(), stream, eventstore.ExpectedRevision(n-1), event("x.v1.New"), firsts[i]); !errors.Is(err, eventstore.ErrConflict) {
					t.Errorf("%d events, %s: id of revision %d second in an append = %v, want ErrConflict", n, when, i, err)
				}
			}
			// The same id in another stream is another event.
			other := "trail-other-" + when
			mustAppend(t, s, other, eventstore.NoStream, firsts[0])
		}
		check("open")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = open(t, dir)
		check("reopened")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
