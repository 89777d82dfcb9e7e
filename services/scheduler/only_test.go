package scheduler

import (
	"slices"
	"testing"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/servicetest"
)

// The router topic's events handle acts on are the ones Only lets
// through: a case added to the switch and not to Only would be skipped.
func TestOnlyLeavesOutNothingHandled(t *testing.T) {
	handled := servicetest.TypeSwitchCases(t, "inbox.go", "handle", "routingv1")
	if only := servicetest.ShortNames(Only[envelope.TopicOf("router")]); !slices.Equal(handled, only) {
		t.Fatalf("handle acts on the router's %v, Only lets through %v", handled, only)
	}
}
