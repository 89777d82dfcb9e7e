package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ringback/ringback/libs/siptest"
)

// outcome is how the contact's side answers, and what the agent then sees.
type outcome struct {
	name     string
	contact  siptest.Scenario
	number   string
	status   string // call status after the attempt settles
	reason   string // reason shown with it
	trailHas string // an event type the audit trail must hold
}

var outcomes = []outcome{
	{"answered", siptest.Answer, "+14155550101", "Connected", "", "CallConnected"},
	{"busy", siptest.Busy, "+14155550102", "Ready to Call", "Busy", "DialFailed"},
	{"no answer", siptest.NoAnswer, "+14155550103", "Ready to Call", "No answer", "DialFailed"},
}

type interactionView struct {
	ID          string            `json:"id"`
	CallbackID  string            `json:"callback_id"`
	AgentID     string            `json:"agent_id"`
	Phase       string            `json:"phase"`
	Status      string            `json:"status"`
	Reason      string            `json:"reason"`
	CaseData    map[string]string `json:"case_data"`
	ExpiresAt   string            `json:"expires_at"`
	Disposition string            `json:"disposition"`
	Callback    struct {
		Subject      string `json:"subject"`
		PhoneNumber  string `json:"phone_number"`
		ScheduledFor string `json:"scheduled_for"`
	} `json:"callback"`
}

// walk drives one callback along the thin path over HTTP, with agent's
// phone and the contact played by sipp, and checks every step.
func walk(t *testing.T, a api, agent string, phone, contact *siptest.UAS, o outcome) {
	// Log in with the agent phone, go Ready on web callback.
	if r := a.do("POST", "/v1/agents/"+agent+"/session", map[string]string{"phone_uri": "sip:" + agent + "@" + phone.Addr}); r.Status != 200 {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	if r := a.do("PUT", "/v1/agents/"+agent+"/state", map[string]string{"channel": "webcallback", "state": "READY"}); r.Status != 200 {
		t.Fatalf("ready: %d %s", r.Status, r.Body)
	}
	pushed := a.events(agent)
	seen := 0

	// The visitor asks.
	r := a.do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": o.number, "subject": "Billing",
		"case_data": map[string]string{"order": "A-17", "crm": "https://crm.example/A-17"}})
	var cb struct{ ID, State string }
	r.decode(t, &cb)
	if r.Status != http.StatusCreated || r.Header.Get("Location") != "/v1/callbacks/"+cb.ID || (cb.State != "QUEUED" && cb.State != "SCHEDULED") {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}

	// The offer reaches the agent's stream, with everything the preview shows.
	offer := pushed.waitFor(t, &seen, "offer", func(e sseEvent) bool { return e.Name == "offer" })
	var v interactionView
	if err := json.Unmarshal(offer.Data, &v); err != nil {
		t.Fatal(err)
	}
	if v.CallbackID != cb.ID || v.CaseData["order"] != "A-17" || v.Callback.Subject != "Billing" ||
		v.Callback.PhoneNumber != o.number || v.ExpiresAt == "" || v.AgentID != agent {
		t.Fatalf("offer: %s", offer.Data)
	}
	ix := v.ID

	// Accept: the interaction window, Ready to Call.
	r = a.do("POST", "/v1/interactions/"+ix+"/accept", nil)
	r.decode(t, &v)
	if r.Status != 200 || v.Status != "Ready to Call" || v.Phase != "accepted" {
		t.Fatalf("accept: %d %s", r.Status, r.Body)
	}
	r = a.do("GET", "/v1/interactions/"+ix, nil)
	r.decode(t, &v)
	if v.Status != "Ready to Call" || v.CaseData["crm"] != "https://crm.example/A-17" || v.Callback.PhoneNumber != o.number ||
		v.Callback.ScheduledFor == "" {
		t.Fatalf("interaction: %s", r.Body)
	}

	// Call this contact: Establishing, then the outcome, each pushed.
	r = a.do("POST", "/v1/interactions/"+ix+"/call", nil)
	r.decode(t, &v)
	if r.Status != 200 || v.Status != "Establishing" {
		t.Fatalf("call: %d %s", r.Status, r.Body)
	}
	status := func(want, reason string) func(sseEvent) bool {
		return func(e sseEvent) bool {
			var s interactionView
			_ = json.Unmarshal(e.Data, &s)
			return e.Name == "interaction" && s.ID == ix && s.Status == want && (reason == "" || s.Reason == reason)
		}
	}
	pushed.waitFor(t, &seen, "Establishing", status("Establishing", ""))
	pushed.waitFor(t, &seen, o.status+" "+o.reason, status(o.status, o.reason))

	// The contact was dialled through the trunk as sip:<E.164>@trunk, after
	// the agent's phone.
	invites := contact.WaitFor(t, "INVITE for "+o.number, func(ms []siptest.Message) bool {
		for _, m := range ms {
			if m.Method() == "INVITE" && strings.HasPrefix(m.RequestURI(), "sip:"+o.number+"@") {
				return true
			}
		}
		return false
	})
	_ = invites
	if o.status == "Connected" {
		r = a.do("POST", "/v1/interactions/"+ix+"/end-call", nil)
		r.decode(t, &v)
		if r.Status != 200 || v.Status != "Ready to Call" {
			t.Fatalf("end call: %d %s", r.Status, r.Body)
		}
		contact.WaitFor(t, "BYE at the contact", func(ms []siptest.Message) bool { return hasMethod(ms, "BYE") })
		phone.WaitFor(t, "BYE at the agent phone", func(ms []siptest.Message) bool { return hasMethod(ms, "BYE") })
	}

	if o.status != "Connected" {
		// The default retry policy (issue 11) gives the next attempt to the
		// scheduler: the interaction ends on its own, the callback is
		// scheduled again, the agent is Ready for the next one.
		var again struct {
			State    string
			Attempts int
			Moves    []string
		}
		a.eventually("/v1/callbacks/"+cb.ID, &again, "callback scheduled for a retry", func() bool {
			return again.State == "SCHEDULED" && again.Attempts == 1 && len(again.Moves) == 1
		})
		var trail []struct{ Type string }
		a.eventually("/v1/interactions/"+ix+"/events", &trail, "audit trail of the retry", func() bool {
			return hasInOrder(trail, "CallbackRequested", "InteractionOffered", "OfferAccepted", "DialRequested", o.trailHas,
				"InteractionDone", "CallbackRescheduled")
		})
		var ag struct {
			Channels map[string]struct{ State string } `json:"channels"`
		}
		a.eventually("/v1/agents/"+agent, &ag, "agent Ready after the retry", func() bool { return ag.Channels["webcallback"].State == "READY" })
		if r := a.do("DELETE", "/v1/callbacks/"+cb.ID, nil); r.Status != 200 {
			t.Fatalf("cancel the retry: %d %s", r.Status, r.Body)
		}
		if r := a.do("DELETE", "/v1/agents/"+agent+"/session", nil); r.Status != 200 {
			t.Fatalf("logout: %d %s", r.Status, r.Body)
		}
		return
	}

	// Disposition, Done.
	if r := a.do("PUT", "/v1/interactions/"+ix+"/disposition", map[string]string{"code": "nope"}); r.Status != 400 || !strings.Contains(string(r.Body), `"field":"code"`) {
		t.Fatalf("bad disposition: %d %s", r.Status, r.Body)
	}
	if r := a.do("PUT", "/v1/interactions/"+ix+"/disposition", map[string]string{"code": "resolved"}); r.Status != 200 {
		t.Fatalf("disposition: %d %s", r.Status, r.Body)
	}
	a.eventually("/v1/interactions/"+ix, &v, "disposition noted", func() bool { return v.Disposition == "resolved" })
	if r := a.do("POST", "/v1/interactions/"+ix+"/done", nil); r.Status != 200 {
		t.Fatalf("done: %d %s", r.Status, r.Body)
	}

	// The callback is completed; its trail and the contact's history show it.
	var final struct{ State, Disposition string }
	a.eventually("/v1/callbacks/"+cb.ID, &final, "callback COMPLETED", func() bool { return final.State == "COMPLETED" })
	var trail []struct{ Type string }
	a.eventually("/v1/interactions/"+ix+"/events", &trail, "whole audit trail", func() bool {
		return hasInOrder(trail, "CallbackRequested", "InteractionOffered", "OfferAccepted", "DialRequested", o.trailHas, "InteractionDone")
	})
	var history []struct {
		CallbackID  string `json:"callback_id"`
		Disposition string `json:"disposition"`
		State       string `json:"state"`
	}
	a.eventually("/v1/contacts/"+o.number+"/history", &history, "contact history", func() bool {
		return len(history) > 0 && history[0].CallbackID == cb.ID && history[0].Disposition == "resolved" && history[0].State == "COMPLETED"
	})
	var ag struct {
		Channels map[string]struct{ State string } `json:"channels"`
	}
	a.eventually("/v1/agents/"+agent, &ag, "agent Ready after Done", func() bool { return ag.Channels["webcallback"].State == "READY" })
	if r := a.do("DELETE", "/v1/agents/"+agent+"/session", nil); r.Status != 200 {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
}

func hasMethod(ms []siptest.Message, method string) bool {
	for _, m := range ms {
		if m.Method() == method {
			return true
		}
	}
	return false
}

func hasInOrder(trail []struct{ Type string }, types ...string) bool {
	i := 0
	for _, e := range trail {
		if i < len(types) && e.Type == types[i] {
			i++
		}
	}
	return i == len(types)
}

func TestThinPathSingleProcess(t *testing.T) {
	siptest.Sipp(t)
	data := t.TempDir()
	phone := siptest.StartUAS(t, siptest.Answer)
	for i, o := range outcomes {
		t.Run(o.name, func(t *testing.T) {
			contact := siptest.StartUAS(t, o.contact)
			// The same data directory each time: the platform restarts on
			// its store, with a different trunk.
			p := start(t, "ringback", "--data", data, "--sip", freePort(t, "udp"), "--sip-trunk", contact.Addr,
				"--media.contact-ring-timeout", "1s", "--media.trunk-keepalive", "0")
			a := api{t: t, route: func(string, string) string { return p.URL }}
			walk(t, a, fmt.Sprintf("agent%d", i+1), phone, contact, o)
		})
	}
}
