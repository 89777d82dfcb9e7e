package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ringback/ringback/libs/siptest"
)

// TestConsultConferenceTransfer: from the agent's HTTP commands through the
// media gateway to real SIP phones. Agent p1 consults p2 (the contact on
// hold, p2's phone rung), makes it a conference (the contact taken off
// hold), drops p2, then transfers the contact blind to p3, whose phone
// answers and later hangs up: the interaction went with the call (issue
// 15), so p3 sets the disposition and clicks Done, and p1 is free at once.
// Each borrowed agent is Busy while on the call and free after.
func TestConsultConferenceTransfer(t *testing.T) {
	siptest.Sipp(t)
	phone1 := siptest.StartUAS(t, siptest.AnswerHold)
	phone2 := siptest.StartUAS(t, siptest.AnswerHold)
	phone3 := siptest.StartUAS(t, siptest.AnswerThenHangUp)
	contact := siptest.StartUAS(t, siptest.AnswerHold)
	p := start(t, "ringback", "--data", t.TempDir(), "--sip", freePort(t, "udp"), "--sip-trunk", contact.Addr,
		"--media.trunk-keepalive", "0")
	a := api{t: t, route: func(string, string) string { return p.URL }}
	for agent, phone := range map[string]*siptest.UAS{"p1": phone1, "p2": phone2, "p3": phone3} {
		a.do("POST", "/v1/agents/"+agent+"/session", map[string]string{"phone_uri": "sip:" + agent + "@" + phone.Addr})
	}
	a.do("PUT", "/v1/agents/p1/state", map[string]string{"channel": "webcallback", "state": "READY"})
	pushed := a.events("p1")
	seen := 0
	a.do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550188", "subject": "Transfer"})
	offer := pushed.waitFor(t, &seen, "offer", func(e sseEvent) bool { return e.Name == "offer" })
	var v struct {
		ID          string `json:"id"`
		Status      string `json:"status"`
		Reason      string `json:"reason"`
		PartyStatus string `json:"party_status"`
		Party       string `json:"party"`
		AgentID     string `json:"agent_id"`
		From        string `json:"transferred_from"`
	}
	_ = json.Unmarshal(offer.Data, &v)
	ix := "/v1/interactions/" + v.ID
	a.do("POST", ix+"/accept", nil)
	a.do("POST", ix+"/call", nil)
	a.eventually(ix, &v, "Connected", func() bool { return v.Status == "Connected" })

	// The others become Ready only now, so that the callback went to p1.
	for _, agent := range []string{"p2", "p3"} {
		a.do("PUT", "/v1/agents/"+agent+"/state", map[string]string{"channel": "webcallback", "state": "READY"})
	}
	state := func(agent string) string {
		var ag struct {
			Channels map[string]struct{ State string } `json:"channels"`
		}
		a.do("GET", "/v1/agents/"+agent, nil).decode(t, &ag)
		return ag.Channels["webcallback"].State
	}
	post := func(path string, body any, want int) {
		t.Helper()
		if r := a.do("POST", ix+path, body); r.Status != want {
			t.Fatalf("POST %s: %d %s, want %d", path, r.Status, r.Body, want)
		}
	}

	// Bad input is refused with the field at fault, and changes nothing.
	for _, bad := range []map[string]string{{"phone_number": "555"}, {}, {"agent": "p2", "phone_number": "+14155550100"}} {
		r := a.do("POST", ix+"/consult", bad)
		if r.Status != 400 || !strings.Contains(r.Header.Get("Content-Type"), "problem+json") {
			t.Fatalf("consult %v: %d %s, want a 400 problem", bad, r.Status, r.Body)
		}
	}
	if r := a.do("POST", ix+"/consult/conference", nil); r.Status != 409 {
		t.Fatalf("conference without a consultation: %d %s, want 409", r.Status, r.Body)
	}

	post("/consult", map[string]string{"agent": "p2"}, 200)
	a.eventually(ix, &v, "consulting p2", func() bool { return v.PartyStatus == "Consulting" && v.Party == "p2" })
	if v.Status != "On Hold" {
		t.Errorf("status %q while consulting, want On Hold", v.Status)
	}
	contact.WaitFor(t, "the contact's hold re-INVITE", func([]siptest.Message) bool { return reinviteWith(t, contact, "a=sendonly") })
	phone2.WaitReceived(t, "INVITE", 1)
	if s := state("p2"); s != "BUSY" {
		t.Errorf("p2 is %s while consulted, want BUSY", s)
	}
	if r := a.do("POST", ix+"/hold", nil); r.Status != 409 {
		t.Errorf("hold while consulting: %d %s, want 409", r.Status, r.Body)
	}

	post("/consult/conference", nil, 200)
	a.eventually(ix, &v, "conference", func() bool { return v.PartyStatus == "Conference" && v.Status == "Connected" })
	contact.WaitFor(t, "the contact taken off hold", func([]siptest.Message) bool { return reinviteWith(t, contact, "a=sendrecv") })

	post("/consult/cancel", nil, 200)
	a.eventually(ix, &v, "p2 dropped", func() bool { return v.PartyStatus == "" && v.Status == "Connected" })
	phone2.WaitReceived(t, "BYE", 1)
	a.eventually("/v1/agents/p2", &struct{}{}, "p2 Ready again", func() bool { return state("p2") == "READY" })

	post("/transfer", map[string]string{"agent": "p3"}, 200)
	a.eventually(ix, &v, "the interaction moved to p3", func() bool { return v.AgentID == "p3" && v.From == "p1" })
	phone1.WaitReceived(t, "BYE", 1) // the agent's leg is released
	a.eventually("/v1/agents/p1", &struct{}{}, "p1 free", func() bool { s := state("p1"); return s == "READY" || s == "AFTER_CALL_WORK" })
	// p3's phone hangs up two seconds after answering: the call ends, and
	// the interaction is p3's to finish.
	a.eventually(ix, &v, "the call ended for p3", func() bool { return v.Status == "Ready to Call" && v.AgentID == "p3" })
	if s := state("p3"); s != "BUSY" {
		t.Errorf("p3 is %s with the interaction, want BUSY", s)
	}

	var trail []struct{ Type string }
	a.eventually(ix+"/events", &trail, "the third parties in the audit trail", func() bool {
		return hasInOrder(trail, "ConsultRequested", "PartyRinging", "PartyConnected", "ConferenceStarted", "PartyLeft",
			"TransferRequested", "PartyRinging", "CallTransferred", "PartyLeft", "CallEnded")
	})
	if r := a.do("PUT", ix+"/disposition", map[string]string{"code": "resolved"}); r.Status != 200 {
		t.Fatalf("disposition: %d %s", r.Status, r.Body)
	}
	a.eventually(ix, &struct{}{}, "done", func() bool { return a.do("POST", ix+"/done", nil).Status == 200 })
	a.eventually("/v1/agents/p3", &struct{}{}, "p3 free after Done", func() bool { s := state("p3"); return s == "READY" || s == "AFTER_CALL_WORK" })
}
