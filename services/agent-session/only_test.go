package agentsession

import (
	"testing"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/servicetest"
)

// The history topic's events handle acts on are the ones Only lets
// through: a case added to the switch and not to Only would be skipped.
func TestOnlyLeavesOutNothingHandled(t *testing.T) {
	servicetest.HoldOnly(t, "inbox.go", "handle", "historyv1", Only[envelope.TopicOf("history")])
}
