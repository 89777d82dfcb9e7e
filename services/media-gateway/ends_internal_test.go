package mediagateway

import (
	"strings"
	"testing"

	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

// TestEveryEndHasAnEndReason: each reason the SIP adapter reports an end
// with is recorded as its own end_reason, never as unspecified or OTHER
// (which would leave agent-session to read the words).
func TestEveryEndHasAnEndReason(t *testing.T) {
	seen := map[mediav1.EndReason]sip.EndReason{}
	for e := sip.EndUnknown + 1; !strings.HasPrefix(e.String(), "EndReason("); e++ {
		got, ok := ends[e]
		switch {
		case !ok || got == mediav1.EndReason_END_REASON_UNSPECIFIED || got == mediav1.EndReason_END_REASON_OTHER:
			t.Errorf("sip end %q is recorded as %v", e, got)
		case seen[got] != sip.EndUnknown:
			t.Errorf("sip ends %q and %q both recorded as %v", seen[got], e, got)
		}
		seen[got] = e
	}
	if len(seen) != len(ends) {
		t.Errorf("%d sip ends, %d mapped", len(seen), len(ends))
	}
}
