package agentsession

import (
	"testing"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/servicetest"
)

// Each topic's events handle acts on are the ones Only lets through: a
// case added to the switch and not to Only would be skipped.
func TestOnlyLeavesOutNothingHandled(t *testing.T) {
	for topic, pkg := range map[string]string{"history": "historyv1", "router": "routingv1", "media": "mediav1", "disposition": "dispositionv1"} {
		servicetest.HoldOnly(t, "inbox.go", "handle", pkg, Only[envelope.TopicOf(topic)])
	}
}
