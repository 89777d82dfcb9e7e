package mediagateway

import (
	"slices"
	"testing"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/servicetest"
)

// The agent topic's events the gateway acts on, the dial and callOf's
// requests, are the ones Only lets through: a request added to callOf and
// not to Only would be skipped.
func TestOnlyLeavesOutNothingHandled(t *testing.T) {
	handled := append(servicetest.TypeSwitchCases(t, "inbox.go", "callOf", "agentv1"), "DialRequested")
	slices.Sort(handled)
	if let := servicetest.ShortNames(Only[envelope.TopicOf("agent")]); !slices.Equal(handled, let) {
		t.Fatalf("the gateway acts on %v, Only lets through %v", handled, let)
	}
}
