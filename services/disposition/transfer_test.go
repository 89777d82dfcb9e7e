package disposition_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	dispositionv1 "github.com/ringback/ringback/proto/ringback/disposition/v1"
	"github.com/ringback/ringback/services/disposition/code"
)

// TestTransferredInteractionIsForTheReceivingAgent (issue 15): once the
// call went to a2 with its interaction, a2 sets the disposition, a1 no
// longer may.
func TestTransferredInteractionIsForTheReceivingAgent(t *testing.T) {
	env := startWith(t, servicetest.AgentsFile(t, "a1", "a2"))
	accept(env, "c1", "i1", "a1")
	servicetest.WaitEvent[*dispositionv1.DispositionOpened](env, code.Stream("i1"))
	env.AppendAs("agent-interaction-i1", eventstore.Cause{ID: "moved-i1", Correlation: "c1"},
		&agentv1.InteractionTransferred{InteractionId: "i1", CallId: "k1", FromAgentId: "a1", ToAgentId: "a2"})
	path := "/v1/interactions/i1/disposition"
	body := map[string]string{"code": "resolved"}
	var res *http.Response
	for range 200 { // until the transfer is folded
		if res = env.DoWith("PUT", path, servicetest.Bearer("a2"), body, nil); res.StatusCode == http.StatusOK {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("a2 sets it: %d", res.StatusCode)
	}
	if res := env.DoWith("PUT", path, servicetest.Bearer("a1"), body, nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("a1 sets it after the transfer: %d", res.StatusCode)
	}
	set := servicetest.WaitEvent[*dispositionv1.DispositionSet](env, code.Stream("i1"))
	if set.AgentId != "a2" || set.Code != "resolved" {
		t.Fatalf("set: %+v", set)
	}
}
