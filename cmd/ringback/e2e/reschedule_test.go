package e2e

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/siptest"
)

// TestRescheduledCallbackComesBack: the agent reschedules during the
// interaction; after Done the callback is SCHEDULED, and at the new time it
// is offered again as a new interaction.
func TestRescheduledCallbackComesBack(t *testing.T) {
	siptest.Sipp(t)
	phone := siptest.StartUAS(t, siptest.Answer)
	p := start(t, "ringback", "--data", t.TempDir(), "--sip", freePort(t, "udp"), "--sip-trunk", phone.Addr)
	a := api{t: t, route: func(string, string) string { return p.URL }}
	a.do("POST", "/v1/agents/r1/session", map[string]string{"phone_uri": "sip:r1@" + phone.Addr})
	a.do("PUT", "/v1/agents/r1/state", map[string]string{"channel": "webcallback", "state": "READY"})
	pushed := a.events("r1")
	seen := 0
	var cb struct{ ID, State string }
	a.do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550199", "subject": "Later"}).decode(t, &cb)
	first := pushed.waitFor(t, &seen, "offer", func(e sseEvent) bool { return e.Name == "offer" })
	var v interactionView
	_ = json.Unmarshal(first.Data, &v)
	a.do("POST", "/v1/interactions/"+v.ID+"/accept", nil)

	if r := a.do("POST", "/v1/interactions/"+v.ID+"/reschedule", map[string]string{"time": "yesterday"}); r.Status != 400 {
		t.Fatalf("bad time: %d %s", r.Status, r.Body)
	}
	again := time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339)
	if r := a.do("POST", "/v1/interactions/"+v.ID+"/reschedule", map[string]string{"time": again}); r.Status != 200 {
		t.Fatalf("reschedule: %d %s", r.Status, r.Body)
	}
	a.do("PUT", "/v1/interactions/"+v.ID+"/disposition", map[string]string{"code": "callback-again"})
	a.eventually("/v1/interactions/"+v.ID, &v, "disposition noted", func() bool { return v.Disposition == "callback-again" })
	if r := a.do("POST", "/v1/interactions/"+v.ID+"/done", nil); r.Status != 200 {
		t.Fatalf("done: %d %s", r.Status, r.Body)
	}
	var state struct {
		State        string `json:"state"`
		ScheduledFor string `json:"scheduled_for"`
	}
	a.eventually("/v1/callbacks/"+cb.ID, &state, "callback SCHEDULED again", func() bool {
		return state.State == "SCHEDULED" && state.ScheduledFor != ""
	})
	second := pushed.waitFor(t, &seen, "the callback offered again", func(e sseEvent) bool { return e.Name == "offer" })
	var v2 interactionView
	_ = json.Unmarshal(second.Data, &v2)
	if v2.CallbackID != cb.ID || v2.ID == v.ID {
		t.Fatalf("second offer %s of callback %s (first interaction %s)", v2.ID, v2.CallbackID, v.ID)
	}
	a.eventually("/v1/callbacks/"+cb.ID, &state, "callback QUEUED", func() bool { return state.State == "QUEUED" })
}
