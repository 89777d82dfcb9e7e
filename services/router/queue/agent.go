package queue

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

// AgentStreamPrefix starts the name of every agent stream of the router.
const AgentStreamPrefix = "router-agent-"

// AgentStream names the stream where the router records what it learned of
// an agent's readiness: router-agent-<agentID>.
func AgentStream(agentID string) string { return AgentStreamPrefix + agentID }

// Availability is an agent's readiness on the web-callback channel as folded
// from its router-agent stream.
type Availability struct {
	Known bool
	Ready bool
}

// SetAvailability records that the agent is (not) ready as of At.
type SetAvailability struct {
	AgentID string
	Ready   bool
	At      time.Time
}

// DecideAvailability records a change of readiness; a repeat of what is
// already known is nothing, so an agent's place in the idle order is not
// reset by agent-session repeating itself.
func DecideAvailability(s Availability, c SetAvailability) []proto.Message {
	if s.Known && s.Ready == c.Ready {
		return nil
	}
	if !s.Known && !c.Ready {
		// An agent the router never saw ready is not ready already.
		return nil
	}
	return []proto.Message{&routingv1.AgentAvailabilityChanged{AgentId: c.AgentID, Ready: c.Ready, At: timestamppb.New(c.At)}}
}

// EvolveAvailability applies one event of an agent stream.
func EvolveAvailability(s Availability, e proto.Message) Availability {
	if e, ok := e.(*routingv1.AgentAvailabilityChanged); ok {
		s.Known, s.Ready = true, e.Ready
	}
	return s
}
