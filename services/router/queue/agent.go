package queue

import (
	"maps"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/streams"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

// AgentStreamPrefix starts the name of every agent stream of the router.
const AgentStreamPrefix = streams.RouterAgent

// AgentStream names the stream where the router records what it learned of
// an agent: readiness, skills, missed offers. router-agent-<agentID>.
func AgentStream(agentID string) string { return AgentStreamPrefix + agentID }

// Availability is an agent as folded from its router-agent stream.
type Availability struct {
	Known  bool
	Ready  bool
	Skills map[string]int32
}

// Commands of the router-agent stream.
type (
	// SetAvailability records that the agent is (not) ready as of At.
	SetAvailability struct {
		AgentID string
		Ready   bool
		At      time.Time
	}
	// SetSkills records the agent's skills (skill -> level) as of At.
	SetSkills struct {
		AgentID string
		Skills  map[string]int32
		At      time.Time
	}
	// StopOffering records that the agent missed OfferIDs in a row.
	StopOffering struct {
		AgentID  string
		OfferIDs []string
		At       time.Time
	}
)

// DecideAgent turns a command on an agent stream into events. A repeat of
// what is already known is nothing, so an agent's place in the idle order is
// not reset by agent-session repeating itself.
func DecideAgent(s Availability, c AgentCommand) []proto.Message {
	switch c := c.(type) {
	case SetAvailability:
		if s.Known && s.Ready == c.Ready {
			return nil
		}
		if !s.Known && !c.Ready {
			// An agent the router never saw ready is not ready already.
			return nil
		}
		return []proto.Message{&routingv1.AgentAvailabilityChanged{AgentId: c.AgentID, Ready: c.Ready, At: timestamppb.New(c.At)}}
	case SetSkills:
		if maps.Equal(s.Skills, c.Skills) {
			return nil
		}
		return []proto.Message{&routingv1.AgentSkillsChanged{AgentId: c.AgentID, Skills: maps.Clone(c.Skills), At: timestamppb.New(c.At)}}
	case StopOffering:
		if !s.Ready || len(c.OfferIDs) == 0 {
			// Not ready already (agent-session or a logout got there first):
			// nobody needs telling.
			return nil
		}
		return []proto.Message{&routingv1.AgentMissedOffers{AgentId: c.AgentID, Count: int32(len(c.OfferIDs)),
			OfferIds: c.OfferIDs, At: timestamppb.New(c.At)}}
	}
	return nil
}

// EvolveAvailability applies one event of an agent stream.
func EvolveAvailability(s Availability, e proto.Message) Availability {
	switch e := e.(type) {
	case *routingv1.AgentAvailabilityChanged:
		s.Known, s.Ready = true, e.Ready
	case *routingv1.AgentSkillsChanged:
		s.Skills = e.Skills
	case *routingv1.AgentMissedOffers:
		// The router stopped offering: only a READY from agent-session
		// makes the agent available again.
		s.Ready = false
	}
	return s
}
