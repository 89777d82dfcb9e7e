package agentsession

import (
	"slices"
	"testing"

	"github.com/ringback/ringback/libs/eventstore"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// An open interaction's contact zones are worked out once and kept while it
// is open: again when its number changes (read erased), and forgotten when
// it closes, so the view holds no number past its interaction.
func TestContactZonesLiveWithTheirInteraction(t *testing.T) {
	v := newView()
	const id = "i-1"
	presented := func(number string) {
		v.apply(eventstore.RecordedEvent{Stream: "agent-interaction-" + id}, &agentv1.InteractionPresented{InteractionId: id,
			CallbackId: "cb-1", AgentId: "a1", Request: &callbackv1.CallbackRequest{Service: "support", PhoneNumber: number}})
	}
	presented("+14155550123")
	if got := v.contactZones(id, "+14155550123", ""); !slices.Equal(got, []string{"America/Los_Angeles"}) {
		t.Fatalf("zones %v", got)
	}
	if z, ok := v.zones[id]; !ok || z.number != "+14155550123" {
		t.Fatalf("not kept for the open interaction: %+v", v.zones)
	}
	if got := v.contactZones(id, "[erased]", ""); !slices.Equal(got, []string{"UTC"}) {
		t.Fatalf("zones of an erased number %v, want the fallback", got)
	}
	if v.zones[id].number != "[erased]" {
		t.Fatalf("kept %+v after the number changed", v.zones[id])
	}
	v.apply(eventstore.RecordedEvent{Stream: "agent-interaction-" + id}, &agentv1.InteractionWithdrawn{InteractionId: id})
	if len(v.zones) != 0 {
		t.Fatalf("kept after the interaction closed: %+v", v.zones)
	}
	if got := v.contactZones(id, "+14155550123", ""); len(got) != 1 || len(v.zones) != 0 {
		t.Fatalf("a closed interaction's zones %v, kept %+v", got, v.zones)
	}
}
