package agentsession

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	dispositionv1 "github.com/ringback/ringback/proto/ringback/disposition/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// as acts as agent id (no agents file: the header names the actor).

// handlingReason is what the API says of an agent Busy with an interaction
// of theirs (agentv1.StateCause_STATE_CAUSE_HANDLING_CALLBACK).
const handlingReason = "Handling a web callback"

func as(id string) map[string]string { return map[string]string{"X-Ringback-Agent": id} }

func holds(iid string) func(agentView) bool {
	return func(a agentView) bool { return slices.Contains(a.Interactions, iid) }
}

// transferTo takes a1's connected call to a2, blind or after a
// consultation, as the gateway reports it.
func transferTo(t *testing.T, env *servicetest.Env, iid, callID string, blind bool) {
	t.Helper()
	path := "/v1/interactions/" + iid
	purpose, route := mediav1.PartyPurpose_PARTY_PURPOSE_TRANSFER, "/transfer"
	if !blind {
		purpose, route = mediav1.PartyPurpose_PARTY_PURPOSE_CONSULT, "/consult"
	}
	ask := post(env, path+route, map[string]string{"agent": "a2"})
	waitStatus(t, env, iid, func(v interactionView) bool { return v.PartyAgentID == "a2" })
	waitAgent(t, env, "a2", webcallback("BUSY", "On a call with a1"))
	gateway(env, callID, &mediav1.CallHeld{CallId: callID, InteractionId: iid, Held: true},
		&mediav1.PartyRinging{CallId: callID, InteractionId: iid, Purpose: purpose, PartyAgentId: "a2", Party: "a2"})
	if a := await(t, ask); a.res.StatusCode != 200 {
		t.Fatalf("%s: %d %+v", route, a.res.StatusCode, a.p)
	}
	if !blind {
		gateway(env, callID, &mediav1.PartyConnected{CallId: callID, InteractionId: iid, PartyAgentId: "a2", Party: "a2"})
		waitStatus(t, env, iid, func(v interactionView) bool { return v.PartyStatus == "Consulting" })
		end := post(env, path+"/consult/transfer", nil)
		servicetest.WaitEvent[*agentv1.ConsultEndRequested](env, interaction.Stream(iid))
		gateway(env, callID, &mediav1.CallTransferred{CallId: callID, InteractionId: iid, PartyAgentId: "a2", Party: "a2"})
		if a := await(t, end); a.res.StatusCode != 200 {
			t.Fatalf("consult/transfer: %d %+v", a.res.StatusCode, a.p)
		}
		return
	}
	gateway(env, callID, &mediav1.CallTransferred{CallId: callID, InteractionId: iid, PartyAgentId: "a2", Party: "a2", Blind: true})
}

// A call transferred to an agent takes the interaction with it (issue 15):
// the receiving agent is Busy with it and handles it to Done; the first
// agent is done with it, their draft filed as theirs, and may not act on it.
func TestTransferToAnAgentMovesTheInteraction(t *testing.T) {
	for _, blind := range []bool{true, false} {
		name := map[bool]string{true: "blind", false: "after a consultation"}[blind]
		t.Run(name, func(t *testing.T) {
			env := start(t)
			iid, callID := connected(t, env, "a1")
			readyAgent(t, env, "a2")
			path := "/v1/interactions/" + iid
			if res := env.Do("PUT", path+"/draft", map[string]string{"note": "wants a refund"}, nil); res.StatusCode != 200 {
				t.Fatalf("draft: %d", res.StatusCode)
			}
			transferTo(t, env, iid, callID, blind)

			v := waitStatus(t, env, iid, func(v interactionView) bool { return v.AgentID == "a2" })
			if v.Phase != "accepted" || v.Status != "Connected" || v.TransferredFrom != "a1" || v.PartyStatus != "" ||
				v.CaseData["order"] != "A-17" || v.Draft != nil || !v.CallHandedOver {
				t.Fatalf("moved: %+v", v)
			}
			filed := servicetest.WaitEvent[*agentv1.DraftFiled](env, interaction.Stream(iid))
			if filed.AgentId != "a1" || filed.Note != "wants a refund" {
				t.Fatalf("a1's note: %+v", filed)
			}
			waitAgent(t, env, "a2", func(a agentView) bool { return webcallback("BUSY", handlingReason)(a) && holds(iid)(a) })
			waitAgent(t, env, "a1", func(a agentView) bool { return webcallback("READY", "")(a) && !holds(iid)(a) })

			// a1 may not act on it any more; a2 may.
			var p problemBody
			if res := env.DoWith("POST", path+"/hold", as("a1"), nil, &p); res.StatusCode != http.StatusForbidden {
				t.Fatalf("a1 holds: %d", res.StatusCode)
			}
			if res := env.DoWith("PUT", path+"/draft", as("a1"), map[string]string{"note": "x"}, &p); res.StatusCode != http.StatusForbidden {
				t.Fatalf("a1 types: %d", res.StatusCode)
			}
			if res := env.DoWith("PUT", path+"/draft", as("a2"), map[string]string{"note": "refund sent"}, nil); res.StatusCode != 200 {
				t.Fatalf("a2 types: %d", res.StatusCode)
			}
			// a2 holds and retrieves the call they received as their own
			// (the gateway holds the leg it was transferred to); its one
			// third-party place is a2's leg, so a consultation is refused,
			// saying why.
			for _, on := range []bool{true, false} {
				route, want := "/hold", "On Hold"
				if !on {
					route, want = "/retrieve", "Connected"
				}
				ask := postAs(env, "a2", path+route, nil)
				waitMatch(t, env, interaction.Stream(iid), func(e *agentv1.HoldRequested) bool { return e.Hold == on })
				gateway(env, callID, &mediav1.CallHeld{CallId: callID, InteractionId: iid, Held: on})
				if a := await(t, ask); a.res.StatusCode != 200 || a.v.Status != want {
					t.Fatalf("a2 %s the call they received: %d %+v %+v", route, a.res.StatusCode, a.v, a.p)
				}
			}
			if res := env.DoWith("POST", path+"/consult", as("a2"), map[string]string{"agent": "a1"}, &p); res.StatusCode != http.StatusConflict ||
				p.Detail != interaction.ErrHandedOver.Error() {
				t.Fatalf("a2 consults on the call they received: %d %+v", res.StatusCode, p)
			}
			// Neither is stranded: a1 may go Not Ready and log out; a2 may
			// not log out while handling it.
			if res := env.Do("PUT", "/v1/agents/a1/state", map[string]string{"channel": "webcallback", "state": "NOT_READY"}, &p); res.StatusCode != 200 {
				t.Fatalf("a1 not ready: %d %+v", res.StatusCode, p)
			}
			if res := env.Do("DELETE", "/v1/agents/a2/session", nil, &p); res.StatusCode != http.StatusConflict {
				t.Fatalf("a2 logs out while handling it: %d", res.StatusCode)
			}

			// The call ends: a2's, who sets the disposition and clicks Done.
			end := post(env, path+"/end-call", nil)
			servicetest.WaitEvent[*agentv1.HangupRequested](env, interaction.Stream(iid))
			gateway(env, callID, &mediav1.PartyLeft{CallId: callID, InteractionId: iid, PartyAgentId: "a2", Party: "a2", Reason: "hangup requested"},
				&mediav1.CallEnded{CallId: callID, InteractionId: iid, Reason: "hangup requested"})
			if a := await(t, end); a.res.StatusCode != 200 || a.v.Status != "Ready to Call" || a.v.AgentID != "a2" {
				t.Fatalf("end call: %d %+v", a.res.StatusCode, a.v)
			}
			// The party's end did not free a2: they still handle it.
			waitAgent(t, env, "a2", webcallback("BUSY", handlingReason))
			env.Append("disposition-interaction-"+iid, "disp-"+iid, &dispositionv1.DispositionSet{InteractionId: iid, Code: "resolved"})
			waitStatus(t, env, iid, func(v interactionView) bool { return v.Disposition == "resolved" })
			if res := env.DoWith("POST", path+"/done", as("a1"), nil, &p); res.StatusCode != http.StatusForbidden {
				t.Fatalf("a1 done: %d", res.StatusCode)
			}
			v = interactionView{}
			if res := env.DoWith("POST", path+"/done", as("a2"), nil, &v); res.StatusCode != 200 || v.Phase != "done" {
				t.Fatalf("a2 done: %d %+v", res.StatusCode, v)
			}
			done := servicetest.WaitEvent[*agentv1.InteractionDone](env, interaction.Stream(iid))
			if done.AgentId != "a2" || done.Disposition != "resolved" {
				t.Fatalf("done: %+v", done)
			}
			var a2note *agentv1.DraftFiled
			for _, e := range env.Events(interaction.Stream(iid)) {
				if f, ok := e.(*agentv1.DraftFiled); ok {
					a2note = f
				}
			}
			if a2note.AgentId != "a2" || a2note.Note != "refund sent" {
				t.Fatalf("a2's note: %+v", a2note)
			}
			waitAgent(t, env, "a2", func(a agentView) bool { return webcallback("READY", "")(a) && !holds(iid)(a) })
			if res := env.Do("DELETE", "/v1/agents/a2/session", nil, &p); res.StatusCode != 200 {
				t.Fatalf("a2 logs out after Done: %d", res.StatusCode)
			}
		})
	}
}

// A redelivered CallTransferred changes nothing: one move, one Busy, one
// After Call Work.
func TestTransferRedeliveredIsOneMove(t *testing.T) {
	env := start(t)
	iid, callID := connected(t, env, "a1")
	readyAgent(t, env, "a2")
	transferTo(t, env, iid, callID, true)
	waitAgent(t, env, "a1", func(a agentView) bool { return webcallback("READY", "")(a) })
	before := env.Stored()
	env.Append("media-call-"+callID, "again", &mediav1.CallTransferred{CallId: callID, InteractionId: iid, PartyAgentId: "a2",
		Party: "a2", Blind: true})
	// The gateway's next word on the call comes after the redelivery: once
	// it shows, the redelivery was handled.
	env.Append("media-call-"+callID, "mute", &mediav1.MuteChanged{CallId: callID, InteractionId: iid, Muted: true})
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Muted })
	waitAgent(t, env, "a2", webcallback("BUSY", handlingReason))
	n := 0
	for _, e := range env.Events(interaction.Stream(iid)) {
		if _, ok := e.(*agentv1.InteractionTransferred); ok {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d InteractionTransferred", n)
	}
	// The two appended here and the CallFlagsChanged of the mute.
	if after := env.Stored(); after != before+3 {
		t.Fatalf("stored %d events, want 3", after-before)
	}
}

// frames reads an agent's event stream from lastEventID ("" : the
// snapshot): every frame's name, id and data.
func frames(t *testing.T, env *servicetest.Env, agentID, lastEventID string) <-chan [3]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", env.Server.URL+"/v1/agents/"+agentID+"/events", nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan [3]string, 100)
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var name, id string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				out <- [3]string{name, id, strings.TrimPrefix(line, "data: ")}
			}
		}
	}()
	return out
}

// handedOver waits for the interaction frame that tells agent a1's desktop
// the interaction went to a2.
func handedOver(t *testing.T, in <-chan [3]string, iid string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f := <-in:
			var v interactionView
			if f[0] != "interaction" || json.Unmarshal([]byte(f[2]), &v) != nil || v.ID != iid {
				continue
			}
			if v.AgentID == "a2" && v.TransferredFrom == "a1" {
				return
			}
		case <-deadline:
			t.Fatal("no frame of the interaction gone to a2 within 10s")
		}
	}
}

// The first agent's desktop is told the interaction went to another agent,
// live and when it reconnects after the move (the catch-up from the store).
func TestTransferredAwayReachesTheFirstDesktop(t *testing.T) {
	env := start(t)
	iid, callID := connected(t, env, "a1")
	readyAgent(t, env, "a2")
	live := frames(t, env, "a1", "")
	var before string
	for f := range live { // the snapshot: the state, then the interaction
		if before = f[1]; f[0] == "interaction" {
			break
		}
	}
	transferTo(t, env, iid, callID, true)
	handedOver(t, live, iid)
	handedOver(t, frames(t, env, "a1", before), iid)
}

// Every replica's view agrees on the move: another replica lists the
// interaction as a2's, no longer a1's, and tells a1's desktop it went.
func TestTransferSeenByEveryReplica(t *testing.T) {
	env := start(t)
	other := startReplica(t, env, Config{RequireDisposition: true, CallingWindow: "00:00-24:00"}, nil)
	iid, callID := connected(t, env, "a1")
	readyAgent(t, env, "a2")
	onOther := frames(t, &servicetest.Env{T: t, Server: other.srv}, "a1", "")
	transferTo(t, env, iid, callID, true)
	handedOver(t, onOther, iid)
	waitFor(t, "the other replica's view", func() bool {
		a2, a1 := other.s.view.openOf("a2"), other.s.view.openOf("a1")
		return len(a2) == 1 && a2[0].ID == iid && a2[0].Agent == "a2" && len(a1) == 0
	})
	// The agents' states follow the move (written after it, by the replica
	// that handled the gateway's word).
	var a agentView
	waitFor(t, "a2 Busy with it on the other replica", func() bool {
		res, err := http.Get(other.srv.URL + "/v1/agents/a2")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		a = agentView{}
		return json.NewDecoder(res.Body).Decode(&a) == nil && holds(iid)(a) && webcallback("BUSY", handlingReason)(a)
	})
}

// An agent whose phone is their browser is consulted, then handed the call
// (issue 15): their own state carries the colleague's call ringing their
// browser and where to answer it, then talking; after the transfer the
// interaction is theirs, and its view offers the call back on their browser
// after a reload.
func TestConsultAColleagueOnTheirBrowser(t *testing.T) {
	env := start(t)
	iid, callID := connected(t, env, "a1")
	env.Do("POST", "/v1/agents/a2/session", map[string]string{"phone_uri": "webrtc:"}, nil)
	if res := env.Do("PUT", "/v1/agents/a2/state", map[string]string{"channel": "webcallback", "state": "READY"}, nil); res.StatusCode != 200 {
		t.Fatalf("a2 ready: %d", res.StatusCode)
	}
	path := "/v1/interactions/" + iid
	ask := post(env, path+"/consult", map[string]string{"agent": "a2"})
	req := servicetest.WaitEvent[*agentv1.ConsultRequested](env, interaction.Stream(iid))
	if req.Party.GetPhoneUri() != "webrtc:a2" {
		t.Fatalf("a2 asked at %q", req.Party.GetPhoneUri())
	}
	const url = "https://center.example/media/gw-2"
	gateway(env, callID, &mediav1.CallHeld{CallId: callID, InteractionId: iid, Held: true},
		&mediav1.PartyRinging{CallId: callID, InteractionId: iid, Purpose: mediav1.PartyPurpose_PARTY_PURPOSE_CONSULT, PartyAgentId: "a2",
			Party: "a2", Browser: true, BrowserUrl: url})
	if a := await(t, ask); a.res.StatusCode != 200 {
		t.Fatalf("consult: %d %+v", a.res.StatusCode, a.p)
	}
	partyCall := func(status string) func(agentView) bool {
		return func(a agentView) bool {
			p := a.PartyCall
			return p != nil && p.CallID == callID && p.URL == url && p.From == "a1" && p.Purpose == "consult" && p.Status == status
		}
	}
	waitAgent(t, env, "a2", partyCall("Ringing"))
	var a1 agentView
	env.Get("/v1/agents/a1", &a1)
	if a1.PartyCall != nil {
		t.Errorf("a1 has a party call: %+v", a1.PartyCall)
	}
	gateway(env, callID, &mediav1.PartyConnected{CallId: callID, InteractionId: iid, PartyAgentId: "a2", Party: "a2"})
	waitAgent(t, env, "a2", partyCall("Consulting"))

	end := post(env, path+"/consult/transfer", nil)
	servicetest.WaitEvent[*agentv1.ConsultEndRequested](env, interaction.Stream(iid))
	gateway(env, callID, &mediav1.CallTransferred{CallId: callID, InteractionId: iid, PartyAgentId: "a2", Party: "a2"})
	if a := await(t, end); a.res.StatusCode != 200 {
		t.Fatalf("consult/transfer: %d %+v", a.res.StatusCode, a.p)
	}
	v := waitStatus(t, env, iid, func(v interactionView) bool { return v.AgentID == "a2" })
	if v.BrowserCall == nil || v.BrowserCall.CallID != callID || v.BrowserCall.URL != url {
		t.Errorf("a2's interaction offers the call back at %+v, want %s at %s", v.BrowserCall, callID, url)
	}
	waitAgent(t, env, "a2", func(a agentView) bool { return a.PartyCall == nil })
}
