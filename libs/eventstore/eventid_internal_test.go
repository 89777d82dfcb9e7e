package eventstore

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// EventID is uuid.NewSHA1 of "cause\x00stream\x00n" under idNamespace: ids
// already stored must come out the same after any change to how it is
// computed, or a cause redelivered across an upgrade would append twice.
func TestEventIDIsUUIDv5(t *testing.T) {
	long := strings.Repeat("x", 300) // past the stack buffer
	for _, c := range []struct {
		cause, stream string
		n             int
	}{{"c1", "intake-callback-1", 0}, {"", "", 0}, {"8d2f", "agent-interaction-9", 17}, {long, long, 123456}, {"é\x00", "s", -1}} {
		want := uuid.NewSHA1(idNamespace, fmt.Appendf(nil, "%s\x00%s\x00%d", c.cause, c.stream, c.n)).String()
		if got := EventID(c.cause, c.stream, c.n); got != want {
			t.Errorf("EventID(%.10q, %.10q, %d) = %s, want %s", c.cause, c.stream, c.n, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = EventID("c1", "intake-callback-1", 3) }); n > 1 {
		t.Errorf("EventID allocates %v times, want the string only", n)
	}
}
