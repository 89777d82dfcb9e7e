package agentsession

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	dispositionv1 "github.com/ringback/ringback/proto/ringback/disposition/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// readyAgent logs an agent in with a phone and makes them Ready.
func readyAgent(t *testing.T, env *servicetest.Env, id string) {
	t.Helper()
	env.Do("POST", "/v1/agents/"+id+"/session", map[string]string{"phone_uri": "sip:" + id + "@127.0.0.1:5070"}, nil)
	if res := env.Do("PUT", "/v1/agents/"+id+"/state", map[string]string{"channel": "webcallback", "state": "READY"}, nil); res.StatusCode != 200 {
		t.Fatalf("%s ready: %d", id, res.StatusCode)
	}
}

// connected brings an interaction of agentID to Connected, as the router
// and the media gateway would; it returns the interaction and call ids.
func connected(t *testing.T, env *servicetest.Env, agentID string) (string, string) {
	t.Helper()
	return connectedAfter(t, env, agentID, func(iid string) { offer(env, iid, agentID) })
}

// connectedAfter is connected with the router's offer written by offered.
func connectedAfter(t *testing.T, env *servicetest.Env, agentID string, offered func(iid string)) (string, string) {
	t.Helper()
	readyAgent(t, env, agentID)
	iid := uuid.NewString()
	offered(iid)
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Phase == "offered" })
	go env.Do("POST", "/v1/interactions/"+iid+"/accept", nil, nil)
	servicetest.WaitEvent[*agentv1.AcceptRequested](env, interaction.Stream(iid))
	env.Append("router-interaction-"+iid, "accepted-"+iid, &routingv1.OfferAccepted{InteractionId: iid, AgentId: agentID})
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Status == "Ready to Call" })
	env.Do("POST", "/v1/interactions/"+iid+"/call", nil, nil)
	dial := servicetest.WaitEvent[*agentv1.DialRequested](env, interaction.Stream(iid))
	gateway(env, dial.CallId, &mediav1.CallConnected{CallId: dial.CallId, InteractionId: iid})
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Status == "Connected" })
	return iid, dial.CallId
}

// gateway appends events to a call's stream as the media gateway would.
func gateway(env *servicetest.Env, callID string, events ...proto.Message) {
	env.T.Helper()
	env.Append("media-call-"+callID, uuid.NewString(), events...)
}

type answer struct {
	res *http.Response
	v   interactionView
	p   problemBody
}

// post sends a command in the background: its answer waits for the gateway.
func post(env *servicetest.Env, path string, body any) <-chan answer {
	return postAs(env, "", path, body)
}

// postAs is post as agent (none: the test's default caller).
func postAs(env *servicetest.Env, agent, path string, body any) <-chan answer {
	out := make(chan answer, 1)
	go func() {
		var a answer
		var raw json.RawMessage
		if agent != "" {
			a.res = env.DoWith("POST", path, as(agent), body, &raw)
		} else {
			a.res = env.Do("POST", path, body, &raw)
		}
		if a.res.StatusCode/100 == 2 {
			_ = json.Unmarshal(raw, &a.v)
		} else {
			_ = json.Unmarshal(raw, &a.p)
		}
		out <- a
	}()
	return out
}

func await(t *testing.T, c <-chan answer) answer {
	t.Helper()
	select {
	case a := <-c:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no answer within 10s")
		return answer{}
	}
}

// waitMatch waits until stream holds an event of type T that matches.
func waitMatch[T proto.Message](t *testing.T, env *servicetest.Env, stream string, match func(T) bool) T {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range env.Events(stream) {
			if e, ok := m.(T); ok && match(e) {
				return e
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	var zero T
	t.Fatalf("no matching %T in %s within 10s", zero, stream)
	return zero
}

func webcallback(state, reason string) func(agentView) bool {
	return func(a agentView) bool {
		c := a.Channels["webcallback"]
		return c.State == state && c.Reason == reason
	}
}

func TestConsultAnAgentThenConferenceThenDropThem(t *testing.T) {
	env := start(t)
	iid, callID := connected(t, env, "a1")
	readyAgent(t, env, "a2")
	pushed := openInteractionEvents(t, env, "a1")
	path := "/v1/interactions/" + iid

	consult := post(env, path+"/consult", map[string]string{"agent": "a2"})
	req := servicetest.WaitEvent[*agentv1.ConsultRequested](env, interaction.Stream(iid))
	if req.CallId != callID || req.AgentId != "a1" || req.Party.GetAgentId() != "a2" || req.Party.GetPhoneUri() != "sip:a2@127.0.0.1:5070" {
		t.Fatalf("consult request: %+v", req)
	}
	// a2 is taken off routing before they ring.
	waitAgent(t, env, "a2", webcallback("BUSY", "On a call with a1"))
	gateway(env, callID, &mediav1.CallHeld{CallId: callID, InteractionId: iid, Held: true},
		&mediav1.PartyRinging{CallId: callID, InteractionId: iid, Purpose: mediav1.PartyPurpose_PARTY_PURPOSE_CONSULT,
			PartyAgentId: "a2", Party: "a2"})
	if a := await(t, consult); a.res.StatusCode != 200 || a.v.PartyStatus != "Ringing" || a.v.Party != "a2" ||
		a.v.PartyAgentID != "a2" || a.v.PartyPurpose != "consult" || a.v.Status != "On Hold" {
		t.Fatalf("consult: %d %+v", a.res.StatusCode, a.v)
	}
	pushed.until(t, func(v interactionView) bool { return v.PartyStatus == "Ringing" && v.Party == "a2" })

	gateway(env, callID, &mediav1.PartyConnected{CallId: callID, InteractionId: iid, PartyAgentId: "a2", Party: "a2"})
	waitStatus(t, env, iid, func(v interactionView) bool { return v.PartyStatus == "Consulting" })
	pushed.until(t, func(v interactionView) bool { return v.PartyStatus == "Consulting" })
	var p problemBody
	if res := env.Do("POST", path+"/retrieve", nil, &p); res.StatusCode != http.StatusConflict {
		t.Fatalf("retrieve while consulting: %d", res.StatusCode)
	}

	conf := post(env, path+"/consult/conference", nil)
	waitMatch(t, env, interaction.Stream(iid), func(e *agentv1.ConsultEndRequested) bool {
		return e.Completion == agentv1.ConsultCompletion_CONSULT_COMPLETION_CONFERENCE
	})
	gateway(env, callID, &mediav1.CallHeld{CallId: callID, InteractionId: iid},
		&mediav1.ConferenceStarted{CallId: callID, InteractionId: iid, PartyAgentId: "a2", Party: "a2"})
	if a := await(t, conf); a.res.StatusCode != 200 || a.v.PartyStatus != "Conference" || a.v.Status != "Connected" {
		t.Fatalf("conference: %d %+v", a.res.StatusCode, a.v)
	}

	drop := post(env, path+"/consult/cancel", nil)
	waitMatch(t, env, interaction.Stream(iid), func(e *agentv1.ConsultEndRequested) bool {
		return e.Completion == agentv1.ConsultCompletion_CONSULT_COMPLETION_CANCEL
	})
	gateway(env, callID, &mediav1.PartyLeft{CallId: callID, InteractionId: iid, PartyAgentId: "a2", Party: "a2", Reason: "dropped by the agent",
		EndReason: mediav1.EndReason_END_REASON_PARTY_DROPPED})
	if a := await(t, drop); a.res.StatusCode != 200 || a.v.PartyStatus != "" || a.v.Party != "" ||
		a.v.PartyReason != "a2 was dropped" || a.v.Status != "Connected" {
		t.Fatalf("drop the party: %d %+v", a.res.StatusCode, a.v)
	}
	waitAgent(t, env, "a2", webcallback("READY", ""))
	pushed.until(t, func(v interactionView) bool { return v.PartyReason == "a2 was dropped" })
}

func TestBlindTransferToANumberLeavesTheAgentToDone(t *testing.T) {
	env := start(t)
	iid, callID := connected(t, env, "a1")
	path := "/v1/interactions/" + iid

	transfer := post(env, path+"/transfer", map[string]string{"phone_number": "+14155550100"})
	req := servicetest.WaitEvent[*agentv1.TransferRequested](env, interaction.Stream(iid))
	if req.Party.GetPhoneNumber() != "+14155550100" || req.Party.GetAgentId() != "" {
		t.Fatalf("transfer request: %+v", req)
	}
	masked := "+141******00"
	// Asked for, not ringing yet: the number is shown masked as the gateway will.
	waitStatus(t, env, iid, func(v interactionView) bool {
		return v.PartyPurpose == "transfer" && v.PartyStatus == "" && v.Party == masked
	})
	gateway(env, callID, &mediav1.CallHeld{CallId: callID, InteractionId: iid, Held: true},
		&mediav1.PartyRinging{CallId: callID, InteractionId: iid, Purpose: mediav1.PartyPurpose_PARTY_PURPOSE_TRANSFER, Party: masked})
	if a := await(t, transfer); a.res.StatusCode != 200 || a.v.PartyStatus != "Ringing" || a.v.Party != masked || a.v.PartyPurpose != "transfer" {
		t.Fatalf("transfer: %d %+v", a.res.StatusCode, a.v)
	}

	gateway(env, callID, &mediav1.CallTransferred{CallId: callID, InteractionId: iid, Party: masked, Blind: true})
	v := waitStatus(t, env, iid, func(v interactionView) bool { return v.Status == "Ready to Call" })
	if v.Reason != "Transferred to "+masked || v.PartyStatus != "Transferred" {
		t.Fatalf("transferred: %+v", v)
	}
	var p problemBody
	if res := env.Do("POST", path+"/call", nil, &p); res.StatusCode != http.StatusConflict {
		t.Fatalf("call the contact again while they talk to the party: %d", res.StatusCode)
	}
	// The transferred call ends later, without the agent.
	gateway(env, callID, &mediav1.PartyLeft{CallId: callID, InteractionId: iid, Party: masked, Reason: "contact hung up",
		EndReason: mediav1.EndReason_END_REASON_CONTACT_HUNG_UP},
		&mediav1.CallEnded{CallId: callID, InteractionId: iid, Reason: "contact hung up", EndReason: mediav1.EndReason_END_REASON_CONTACT_HUNG_UP})
	v = waitStatus(t, env, iid, func(v interactionView) bool { return v.PartyStatus == "" })
	if v.Status != "Ready to Call" || v.Reason != "Transferred to "+masked {
		t.Fatalf("after the transferred call: %+v", v)
	}
	env.Append("disposition-interaction-"+iid, "disp-"+iid, &dispositionv1.DispositionSet{InteractionId: iid, Code: "transferred"})
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Disposition == "transferred" })
	v = interactionView{}
	if res := env.Do("POST", path+"/done", nil, &v); res.StatusCode != 200 || v.Phase != "done" {
		t.Fatalf("done: %d %+v", res.StatusCode, v)
	}
}

func TestTransferNotAnsweredLeavesTheContactOnHold(t *testing.T) {
	env := start(t)
	iid, callID := connected(t, env, "a1")
	readyAgent(t, env, "a2")
	path := "/v1/interactions/" + iid

	transfer := post(env, path+"/transfer", map[string]string{"agent": "a2"})
	servicetest.WaitEvent[*agentv1.TransferRequested](env, interaction.Stream(iid))
	gateway(env, callID, &mediav1.CallHeld{CallId: callID, InteractionId: iid, Held: true},
		&mediav1.PartyRinging{CallId: callID, InteractionId: iid, Purpose: mediav1.PartyPurpose_PARTY_PURPOSE_TRANSFER, PartyAgentId: "a2", Party: "a2"})
	await(t, transfer)
	gateway(env, callID, &mediav1.PartyLeft{CallId: callID, InteractionId: iid, PartyAgentId: "a2", Party: "a2",
		Outcome: mediav1.Outcome_OUTCOME_NO_ANSWER, SipCode: 480})
	v := waitStatus(t, env, iid, func(v interactionView) bool { return v.PartyReason != "" })
	if v.PartyStatus != "" || v.PartyReason != "a2: No answer" || v.Status != "On Hold" {
		t.Fatalf("not answered: %+v", v)
	}
	waitAgent(t, env, "a2", webcallback("READY", ""))
	// The agent has the contact back.
	retrieve := post(env, path+"/retrieve", nil)
	waitMatch(t, env, interaction.Stream(iid), func(e *agentv1.HoldRequested) bool { return !e.Hold })
	gateway(env, callID, &mediav1.CallHeld{CallId: callID, InteractionId: iid})
	if a := await(t, retrieve); a.res.StatusCode != 200 || a.v.Status != "Connected" {
		t.Fatalf("retrieve: %d %+v", a.res.StatusCode, a.v)
	}
}

func TestTransferTheGatewayCannotDoFreesTheParty(t *testing.T) {
	env := start(t)
	iid, callID := connected(t, env, "a1")
	readyAgent(t, env, "a2")

	transfer := post(env, "/v1/interactions/"+iid+"/transfer", map[string]string{"agent": "a2"})
	servicetest.WaitEvent[*agentv1.TransferRequested](env, interaction.Stream(iid))
	waitAgent(t, env, "a2", webcallback("BUSY", "On a call with a1"))
	gateway(env, callID, &mediav1.CallControlFailed{CallId: callID, InteractionId: iid, Action: "transfer", Reason: "no route"})
	a := await(t, transfer)
	if a.res.StatusCode != 200 || a.v.PartyPurpose != "" || a.v.Reason != "Could not transfer: no route" || a.v.Status != "Connected" {
		t.Fatalf("transfer failed: %d %+v", a.res.StatusCode, a.v)
	}
	waitAgent(t, env, "a2", webcallback("READY", ""))
}

func TestAPartyAgentMustBeReadyAndIsFreedAfter(t *testing.T) {
	env := start(t)
	iid1, call1 := connected(t, env, "a1")
	iid2, _ := connected(t, env, "b1")
	env.Do("POST", "/v1/agents/a2/session", map[string]string{}, nil) // logged in, Not Ready

	before := env.Stored()
	var p problemBody
	if res := env.Do("POST", "/v1/interactions/"+iid1+"/consult", map[string]string{"agent": "a2"}, &p); res.StatusCode != http.StatusConflict {
		t.Fatalf("consult a Not Ready agent: %d %+v", res.StatusCode, p)
	}
	if res := env.Do("POST", "/v1/interactions/"+iid1+"/consult", map[string]string{"agent": "nobody"}, &p); res.StatusCode != http.StatusConflict {
		t.Fatalf("consult an agent not logged in: %d %+v", res.StatusCode, p)
	}
	if after := env.Stored(); after != before {
		t.Fatalf("refused requests stored %d events", after-before)
	}

	// a2 goes Ready; a1 consults them, so b1 cannot have them meanwhile.
	env.Do("PUT", "/v1/agents/a2/state", map[string]string{"channel": "webcallback", "state": "READY"}, nil)
	consult := post(env, "/v1/interactions/"+iid1+"/consult", map[string]string{"agent": "a2"})
	servicetest.WaitEvent[*agentv1.ConsultRequested](env, interaction.Stream(iid1))
	gateway(env, call1, &mediav1.PartyRinging{CallId: call1, InteractionId: iid1, Purpose: mediav1.PartyPurpose_PARTY_PURPOSE_CONSULT,
		PartyAgentId: "a2", Party: "a2"})
	await(t, consult)
	var raw map[string]any
	res := env.Do("POST", "/v1/interactions/"+iid2+"/transfer", map[string]string{"agent": "a2"}, &raw)
	if res.StatusCode != http.StatusConflict || res.Header.Get("Content-Type") != "application/problem+json" ||
		!strings.Contains(raw["detail"].(string), "a2 is Busy") {
		t.Fatalf("transfer to a busy agent: %d %v", res.StatusCode, raw)
	}

	gateway(env, call1, &mediav1.PartyLeft{CallId: call1, InteractionId: iid1, PartyAgentId: "a2", Party: "a2",
		Outcome: mediav1.Outcome_OUTCOME_NO_ANSWER})
	waitAgent(t, env, "a2", webcallback("READY", ""))
	go env.Do("POST", "/v1/interactions/"+iid2+"/transfer", map[string]string{"agent": "a2"}, nil)
	req := servicetest.WaitEvent[*agentv1.TransferRequested](env, interaction.Stream(iid2))
	if req.Party.GetAgentId() != "a2" || req.AgentId != "b1" {
		t.Fatalf("transfer once a2 is free: %+v", req)
	}
	waitAgent(t, env, "a2", webcallback("BUSY", "On a call with b1"))
}

func TestBadPartyRequestsNameTheFieldAndStoreNothing(t *testing.T) {
	env := start(t)
	iid, _ := connected(t, env, "a1")
	path := "/v1/interactions/" + iid
	before := env.Stored()
	for _, c := range []struct {
		route string
		body  any
		field string
	}{
		{"/consult", map[string]string{}, "agent"},
		{"/consult", map[string]string{"agent": "a2", "phone_number": "+14155550100"}, "phone_number"},
		{"/transfer", map[string]string{"phone_number": "4155550100"}, "phone_number"},
		{"/transfer", map[string]string{"phone_number": "+1415555010099999"}, "phone_number"},
		{"/transfer", map[string]string{"agent": "bad id"}, "agent"},
		{"/consult", map[string]string{"agent": "a1"}, "agent"},
		{"/consult", map[string]string{"extension": "12"}, "extension"},
		{"/consult", map[string]int{"agent": 2}, "agent"},
		// The dial plan (issue 16): never an emergency, premium or N11 number.
		{"/consult", map[string]string{"phone_number": "+1911"}, "phone_number"},
		{"/consult", map[string]string{"phone_number": "+112"}, "phone_number"},
		{"/consult", map[string]string{"phone_number": "+999"}, "phone_number"},
		{"/transfer", map[string]string{"phone_number": "+19005550123"}, "phone_number"},
		{"/transfer", map[string]string{"phone_number": "+19115550123"}, "phone_number"},
		{"/consult", map[string]string{"phone_number": "+448712345678"}, "phone_number"},
	} {
		var p problemBody
		res := env.Do("POST", path+c.route, c.body, &p)
		if res.StatusCode != 400 || p.Field != c.field || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %v: %d %+v, want 400 on %s", c.route, c.body, res.StatusCode, p, c.field)
		}
	}
	var p problemBody
	if res := env.Do("POST", path+"/consult/conference", nil, &p); res.StatusCode != http.StatusConflict {
		t.Errorf("conference with no consultation: %d", res.StatusCode)
	}
	if res := env.Do("POST", path+"/consult/cancel", nil, &p); res.StatusCode != http.StatusConflict {
		t.Errorf("cancel with no party: %d", res.StatusCode)
	}
	number := map[string]string{"phone_number": "+14155550100"}
	for route, body := range map[string]any{"/consult": number, "/transfer": number, "/consult/cancel": nil} {
		if res := env.DoWith("POST", path+route, map[string]string{"X-Ringback-Agent": "a2"}, body, &p); res.StatusCode != http.StatusForbidden {
			t.Errorf("%s by another agent: %d", route, res.StatusCode)
		}
	}
	if after := env.Stored(); after != before {
		t.Fatalf("refused requests stored %d events", after-before)
	}
}

// The end of the call closes a request the gateway never answered, and
// frees its party agent.
func TestCallEndFreesAnUnrungParty(t *testing.T) {
	env := start(t)
	iid, callID := connected(t, env, "a1")
	readyAgent(t, env, "a2")
	go env.Do("POST", "/v1/interactions/"+iid+"/consult", map[string]string{"agent": "a2"}, nil)
	servicetest.WaitEvent[*agentv1.ConsultRequested](env, interaction.Stream(iid))
	// As a gateway from before end_reason wrote it: its words are shown,
	// not matched.
	gateway(env, callID, &mediav1.CallEnded{CallId: callID, InteractionId: iid, Reason: "contact hung up"})
	v := waitStatus(t, env, iid, func(v interactionView) bool { return v.Status == "Ready to Call" })
	if v.PartyPurpose != "" || v.Reason != "Call ended: contact hung up" {
		t.Fatalf("after the call: %+v", v)
	}
	waitAgent(t, env, "a2", webcallback("READY", ""))
}

// interactionEvents reads the interactions pushed on an agent's stream.
type interactionEvents struct{ views chan interactionView }

func openInteractionEvents(t *testing.T, env *servicetest.Env, agentID string) *interactionEvents {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", env.Server.URL+"/v1/agents/"+agentID+"/events", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("events: %v", err)
	}
	e := &interactionEvents{views: make(chan interactionView, 100)}
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		name := ""
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				name = v
			}
			if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok && name == "interaction" {
				var iv interactionView
				if json.Unmarshal([]byte(v), &iv) == nil {
					e.views <- iv
				}
			}
		}
	}()
	return e
}

// until waits for a pushed interaction that matches.
func (e *interactionEvents) until(t *testing.T, match func(interactionView) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case v := <-e.views:
			if match(v) {
				return
			}
		case <-deadline:
			t.Fatal("no matching interaction pushed within 10s")
		}
	}
}
