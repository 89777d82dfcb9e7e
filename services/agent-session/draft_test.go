package agentsession

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// Issue 15, "nothing typed is lost": the desktop saves the note and the
// case form as the agent types; the interaction shows them (a reload of
// the page on any replica), and Done files what was never saved by hand.
func TestDraftIsKeptAndFiledAtDone(t *testing.T) {
	env := startWith(t, Config{CommandWait: 5 * time.Second, CallingWindow: "00:00-24:00"})
	readyAgent(t, env, "a1")
	iid := uuid.NewString()
	offer(env, iid, "a1")
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Phase == "offered" })

	var p problemBody
	if res := env.Do("PUT", "/v1/interactions/"+iid+"/draft", map[string]string{"note": "too soon"}, &p); res.StatusCode != http.StatusConflict {
		t.Fatalf("draft before accept: %d %+v", res.StatusCode, p)
	}
	go env.Do("POST", "/v1/interactions/"+iid+"/accept", nil, nil)
	servicetest.WaitEvent[*agentv1.AcceptRequested](env, interaction.Stream(iid))
	env.Append("router-interaction-"+iid, "accepted-"+iid, &routingv1.OfferAccepted{InteractionId: iid, AgentId: "a1"})
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Status == "Ready to Call" })
	// The accept's second write, the agent Busy, lands after the first:
	// counted from before it, it passes for a refused draft's.
	waitAgent(t, env, "a1", func(a agentView) bool { return a.Channels["webcallback"].State == "BUSY" })

	before := env.Stored()
	long := make([]byte, interaction.MaxNote+1)
	for i := range long {
		long[i] = 'x'
	}
	if res := env.Do("PUT", "/v1/interactions/"+iid+"/draft", map[string]any{"note": string(long)}, &p); res.StatusCode != 400 || p.Field != "note" {
		t.Fatalf("long note: %d %+v", res.StatusCode, p)
	}
	if res := env.Do("PUT", "/v1/interactions/"+iid+"/draft", map[string]any{"case_editing": true,
		"case_data": map[string]string{"": "x"}}, &p); res.StatusCode != 400 || p.Field != "case_data" {
		t.Fatalf("empty case key: %d %+v", res.StatusCode, p)
	}
	if after := env.Stored(); after != before {
		t.Fatalf("refused drafts stored %d events", after-before)
	}

	var v interactionView
	draft := map[string]any{"note": "Wants a refund", "case_editing": true, "case_data": map[string]string{"order": "A-18"}}
	if res := env.Do("PUT", "/v1/interactions/"+iid+"/draft", draft, &v); res.StatusCode != 200 || v.Draft == nil || v.Draft.Note != "Wants a refund" {
		t.Fatalf("draft: %d %+v", res.StatusCode, v.Draft)
	}
	// A reload reads the interaction afresh.
	v = waitStatus(t, env, iid, func(v interactionView) bool { return v.Draft != nil })
	if !v.Draft.CaseEditing || v.Draft.CaseData["order"] != "A-18" || v.CaseData["order"] != "A-17" {
		t.Fatalf("reloaded: draft %+v, case data %v", v.Draft, v.CaseData)
	}

	if res := env.Do("POST", "/v1/interactions/"+iid+"/done", nil, &v); res.StatusCode != 200 || v.Phase != "done" {
		t.Fatalf("done: %d %+v", res.StatusCode, v)
	}
	filed := servicetest.WaitEvent[*agentv1.DraftFiled](env, interaction.Stream(iid))
	if filed.Note != "Wants a refund" || !filed.CaseEdited || filed.CaseData["order"] != "A-18" || filed.CallbackId != "cb-"+iid {
		t.Fatalf("filed %v", filed)
	}
	servicetest.WaitEvent[*agentv1.InteractionDone](env, interaction.Stream(iid))
}
