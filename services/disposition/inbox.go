package disposition

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/proto/catalog"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/disposition/code"
)

// Topics are the topics disposition learns accepts (router) and Done (agent-session) from.
var Topics = []string{envelope.TopicOf("router"), envelope.TopicOf("agent")}

// Only are the event types handle acts on, of each topic: the accept, and
// the transfer and Done of an interaction; offers, agents' states, drafts
// and calls are acknowledged undecoded (TestOnlyLeavesOutNothingHandled).
var Only = map[string][]string{
	envelope.TopicOf("router"): {catalog.TypeName(&routingv1.OfferAccepted{})},
	envelope.TopicOf("agent"):  {catalog.TypeName(&agentv1.InteractionTransferred{}), catalog.TypeName(&agentv1.InteractionDone{})},
}

// handle opens an interaction's disposition when an agent accepts it (or
// receives it with a transferred call) and closes it when the agent clicks
// Done.
func (s *Service) handle(ctx context.Context, e envelope.Envelope) error {
	var (
		iid, callbackID string
		cmd             code.Command
	)
	switch ev := e.Event.(type) {
	case *routingv1.OfferAccepted:
		iid, callbackID = ev.InteractionId, e.Correlation
		cmd = code.Open{InteractionID: iid, CallbackID: callbackID, AgentID: ev.AgentId, Service: ev.Service,
			At: s.when(ev.At, e.Time)}
	case *agentv1.InteractionTransferred:
		// The call went to another agent with its interaction (issue 15):
		// they set the disposition now.
		iid, callbackID = ev.InteractionId, ev.CallbackId
		if callbackID == "" {
			callbackID = e.Correlation
		}
		cmd = code.Open{InteractionID: iid, CallbackID: callbackID, AgentID: ev.ToAgentId, At: s.when(ev.At, e.Time)}
	case *agentv1.InteractionDone:
		iid, callbackID = ev.InteractionId, ev.CallbackId
		if callbackID == "" {
			callbackID = e.Correlation
		}
		cmd = code.Close{InteractionID: iid, Code: ev.Disposition, At: s.when(ev.At, e.Time)}
	default:
		return nil
	}
	if iid == "" {
		return nil
	}
	if _, err := s.execute(ctx, iid, eventstore.Cause{ID: e.ID, Correlation: callbackID}, cmd); err != nil {
		return fmt.Errorf("%s of interaction %s: %w", e.Type, iid, err)
	}
	return nil
}

// when is the time a fact happened: its own, else when it was stored.
func (s *Service) when(t *timestamppb.Timestamp, stored time.Time) time.Time {
	switch {
	case t != nil:
		return t.AsTime()
	case !stored.IsZero():
		return stored
	}
	return s.deps.Clock.Now()
}
