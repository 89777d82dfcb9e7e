package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/siptest"
)

// TestAMoveOfAnOfferedCallbackIsAnsweredWithTheRoutersDecision: a callback
// offered to an agent is moved through the API. The router withdraws the
// offer (no agent has it), the scheduler moves the callback, and the
// move's answer waits for that round trip through the bus: 200, moved, and
// the withdrawn offer can no longer be accepted. Once an agent has accepted
// another, a move is a 409 that says an agent has it.
func TestAMoveOfAnOfferedCallbackIsAnsweredWithTheRoutersDecision(t *testing.T) {
	siptest.Sipp(t)
	phone := siptest.StartUAS(t, siptest.Answer)
	p := start(t, "ringback", "--data", t.TempDir(), "--sip", freePort(t, "udp"), "--sip-trunk", phone.Addr)
	a := api{t: t, route: func(string, string) string { return p.URL }}
	a.do("POST", "/v1/agents/m1/session", map[string]string{"phone_uri": "sip:m1@" + phone.Addr})
	a.do("PUT", "/v1/agents/m1/state", map[string]string{"channel": "webcallback", "state": "READY"})
	pushed := a.events("m1")
	seen := 0

	later := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)

	id, _, offer := offeredCallback(t, a, pushed, &seen, "+14155550171")
	began := time.Now()
	r := a.do("PUT", "/v1/callbacks/"+id, map[string]string{"desired_time": later.Format(time.RFC3339)})
	took := time.Since(began)
	var moved struct {
		State        string `json:"state"`
		ScheduledFor string `json:"scheduled_for"`
		MovePending  bool   `json:"move_pending"`
	}
	if r.Status != 200 {
		t.Fatalf("move of an offered callback: %d %s", r.Status, r.Body)
	}
	r.decode(t, &moved)
	if moved.State != "SCHEDULED" || moved.MovePending || moved.ScheduledFor == "" {
		t.Fatalf("moved: %+v", moved)
	}
	t.Logf("figure: a move of an offered callback answered with the router's decision in %s (one process)", took.Round(time.Millisecond))
	if r := a.do("POST", "/v1/interactions/"+offer+"/accept", nil); r.Status == 200 {
		t.Fatalf("the withdrawn offer was accepted: %s", r.Body)
	}

	id, _, offer = offeredCallback(t, a, pushed, &seen, "+14155550172")
	if r := a.do("POST", "/v1/interactions/"+offer+"/accept", nil); r.Status != 200 && r.Status != 202 {
		t.Fatalf("accept: %d %s", r.Status, r.Body)
	}
	r = a.do("PUT", "/v1/callbacks/"+id, map[string]string{"desired_time": later.Format(time.RFC3339)})
	if r.Status != 409 || !strings.Contains(string(r.Body), "agent") {
		t.Fatalf("move of an accepted callback: %d %s", r.Status, r.Body)
	}
}

// offeredCallback asks for a callback for number as soon as possible and
// waits until it is offered to the agent whose events pushed are, and
// until intake knows it fell due; it returns its id, the self-service
// link's path and the interaction.
func offeredCallback(t *testing.T, a api, pushed *stream, seen *int, number string) (id, link, interaction string) {
	t.Helper()
	var cb struct {
		ID          string `json:"id"`
		SelfService struct {
			URL string `json:"url"`
		} `json:"self_service"`
	}
	a.do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": number}).decode(t, &cb)
	e := pushed.waitFor(t, seen, "the offer of "+number, func(e sseEvent) bool { return e.Name == "offer" })
	var v interactionView
	_ = json.Unmarshal(e.Data, &v)
	var st struct {
		InteractionID string `json:"interaction_id"`
	}
	a.eventually("/v1/callbacks/"+cb.ID, &st, "intake knows it fell due", func() bool { return st.InteractionID == v.ID })
	return cb.ID, cb.SelfService.URL, v.ID
}
