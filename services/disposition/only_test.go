package disposition

import (
	"testing"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/servicetest"
)

// Each topic's events handle acts on are the ones Only lets through: a
// case added to the switch and not to Only would be skipped.
func TestOnlyLeavesOutNothingHandled(t *testing.T) {
	for topic, pkg := range map[string]string{"router": "routingv1", "agent": "agentv1"} {
		servicetest.HoldOnly(t, "inbox.go", "handle", pkg, Only[envelope.TopicOf(topic)])
	}
}
