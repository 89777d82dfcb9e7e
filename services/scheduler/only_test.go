package scheduler

import (
	"testing"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/servicetest"
)

// The router topic's events handle acts on are the ones Only lets
// through: a case added to the switch and not to Only would be skipped.
func TestOnlyLeavesOutNothingHandled(t *testing.T) {
	servicetest.HoldOnly(t, "inbox.go", "handle", "routingv1", Only[envelope.TopicOf("router")])
}
