package agentsession

import (
	"slices"
	"testing"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/servicetest"
)

// The history topic's events handle acts on are the ones Only lets
// through: a case added to the switch and not to Only would be skipped.
func TestOnlyLeavesOutNothingHandled(t *testing.T) {
	handled := servicetest.TypeSwitchCases(t, "inbox.go", "handle", "historyv1")
	if only := servicetest.ShortNames(Only[envelope.TopicOf("history")]); !slices.Equal(handled, only) {
		t.Fatalf("handle acts on history's %v, Only lets through %v", handled, only)
	}
}
