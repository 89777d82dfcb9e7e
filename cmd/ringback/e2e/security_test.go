package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/siptest"
)

// Issue 16, the two findings fixed first: personal data read without a
// token, and emergency and premium numbers dialled.

// secForbidden are numbers no request may get dialled: emergency numbers
// bare and behind a country code, a premium-rate number, an N11 area code.
var secForbidden = []string{"+1911", "+112", "+999", "+19005550123", "+19115550123"}

// TestDialPlanConsultToEmergencyNeverReachesTheTrunk: on a connected call,
// consult and transfer to an emergency or premium number answer 400 naming
// phone_number, and the trunk (sipp) receives no INVITE but the call's own.
// A callback for such a number and an agent phone with URI headers are
// refused too. The open platform warns that every route is open.
func TestDialPlanConsultToEmergencyNeverReachesTheTrunk(t *testing.T) {
	siptest.Sipp(t)
	phone := siptest.StartUAS(t, siptest.Answer)
	contact := siptest.StartUAS(t, siptest.Answer)
	p := start(t, "ringback", "--data", t.TempDir(), "--sip", freePort(t, "udp"), "--sip-trunk", contact.Addr,
		"--media.trunk-keepalive", "0")
	a := api{t: t, route: func(string, string) string { return p.URL }}

	for _, n := range secForbidden {
		r := a.do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": n})
		secWantProblem(t, r, 400, "phone_number", "callback for "+n)
	}
	r := a.do("POST", "/v1/agents/s1/session", map[string]string{"phone_uri": "sip:s1@" + phone.Addr + "?X-Injected=1"})
	secWantProblem(t, r, 400, "phone_uri", "a phone URI with headers")
	r = a.do("POST", "/v1/agents/s1/session", map[string]string{"phone_uri": "sip:+19005550123@" + contact.Addr})
	secWantProblem(t, r, 400, "phone_uri", "a premium number at the trunk as the agent's phone")

	a.do("POST", "/v1/agents/s1/session", map[string]string{"phone_uri": "sip:s1@" + phone.Addr})
	a.do("PUT", "/v1/agents/s1/state", map[string]string{"channel": "webcallback", "state": "READY"})
	pushed := a.events("s1")
	seen := 0
	a.do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550177", "subject": "Dial plan"})
	offer := pushed.waitFor(t, &seen, "offer", func(e sseEvent) bool { return e.Name == "offer" })
	var v struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	_ = json.Unmarshal(offer.Data, &v)
	ix := "/v1/interactions/" + v.ID
	a.do("POST", ix+"/accept", nil)
	a.do("POST", ix+"/call", nil)
	a.eventually(ix, &v, "Connected", func() bool { return v.Status == "Connected" })
	contact.WaitReceived(t, "INVITE", 1)

	for _, n := range secForbidden {
		for _, route := range []string{"/consult", "/transfer"} {
			r := a.do("POST", ix+route, map[string]string{"phone_number": n})
			secWantProblem(t, r, 400, "phone_number", route+" to "+n)
		}
	}
	// Anything sent would have arrived by now: only the call's INVITE did.
	time.Sleep(500 * time.Millisecond)
	if got, _ := contact.Received("INVITE"); len(got) != 1 {
		t.Fatalf("the trunk received %d INVITEs, want only the call's", len(got))
	}
	if got, _ := phone.Received("INVITE"); len(got) != 1 {
		t.Fatalf("the agent's phone received %d INVITEs, want only the call's", len(got))
	}
	a.eventually(ix, &v, "still Connected", func() bool { return v.Status == "Connected" })
	a.do("POST", ix+"/end-call", nil)

	if b, _ := os.ReadFile(p.log); !bytes.Contains(b, []byte("OPEN PLATFORM")) {
		t.Errorf("no warning that every route is open without an agents file:\n%s", p.tail())
	}
}

// TestPersonalDataNeedsTheAgentsToken: with the agents file on, every read
// of a contact's data answers 401 without a token and changes nothing;
// another agent gets what an unknown id or number gets (404); the agent the
// callback was offered to and accepted by reads it all.
func TestPersonalDataNeedsTheAgentsToken(t *testing.T) {
	p, a, _ := desktopPlatform(t, []desktopAgent{{ID: "s1", Token: "s1-token"}, {ID: "s2", Token: "s2-token"}},
		"--media.trunk-keepalive", "0")
	const number, escaped = "+14155550162", "%2B14155550162"
	cb := desktopCallback(t, a, number, "Private", "Grace Hopper", map[string]string{"iban": "canary-iban"})

	do := func(method, path, token string, body any) reply {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, p.URL+path, rd)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return reply{Status: res.StatusCode, Header: res.Header, Body: b}
	}
	if r := do("POST", "/v1/agents/s1/session", "s1-token", map[string]string{}); r.Status != 200 {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	do("PUT", "/v1/agents/s1/state", "s1-token", map[string]string{"channel": "webcallback", "state": "READY"})
	var ag struct{ Interactions []string }
	deadline := time.Now().Add(20 * time.Second)
	for len(ag.Interactions) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no offer to s1 within 20s")
		}
		do("GET", "/v1/agents/s1", "s1-token", nil).decode(t, &ag)
		time.Sleep(20 * time.Millisecond)
	}
	ix := ag.Interactions[0]
	if r := do("POST", "/v1/interactions/"+ix+"/accept", "s1-token", nil); r.Status != 200 && r.Status != 202 {
		t.Fatalf("accept: %d %s", r.Status, r.Body)
	}

	const none = "00000000-0000-4000-8000-000000000000"
	routes := []struct{ method, path, unknown string }{
		{"GET", "/v1/callbacks/" + cb, "/v1/callbacks/" + none},
		{"GET", "/v1/schedule/" + cb, "/v1/schedule/" + none},
		{"GET", "/v1/interactions/" + ix, "/v1/interactions/" + none},
		{"GET", "/v1/interactions/" + ix + "/events", "/v1/interactions/" + none + "/events"},
		{"GET", "/v1/contacts/" + escaped + "/history", "/v1/contacts/%2B14155550163/history"},
		{"GET", "/v1/contacts/" + escaped + "/matrix", "/v1/contacts/%2B14155550163/matrix"},
	}
	// The agent who accepted it reads everything (the services learn the
	// accept from the bus, each at its pace).
	for _, rt := range routes {
		deadline := time.Now().Add(20 * time.Second)
		for {
			r := do(rt.method, rt.path, "s1-token", nil)
			if r.Status == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("s1 %s %s: %d %s", rt.method, rt.path, r.Status, r.Body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if r := do("GET", "/v1/callbacks/"+cb, "s1-token", nil); !bytes.Contains(r.Body, []byte("canary-iban")) {
		t.Fatalf("s1 reads the callback without its case data: %s", r.Body)
	}
	for _, rt := range append(routes, struct{ method, path, unknown string }{"GET", "/v1/queues", ""}) {
		for _, token := range []string{"", "not-a-token"} {
			r := do(rt.method, rt.path, token, nil)
			secWantProblem(t, r, 401, "", rt.path+" with token "+token)
			if bytes.Contains(r.Body, []byte("canary")) || bytes.Contains(r.Body, []byte("Grace")) {
				t.Fatalf("%s answers personal data anonymously: %s", rt.path, r.Body)
			}
		}
	}
	for _, rt := range routes {
		theirs, unknown := do(rt.method, rt.path, "s2-token", nil), do(rt.method, rt.unknown, "s2-token", nil)
		secWantProblem(t, theirs, 404, "", "s2 "+rt.path)
		secWantProblem(t, unknown, 404, "", "s2 "+rt.unknown)
		var a, b map[string]any
		_ = json.Unmarshal(theirs.Body, &a)
		_ = json.Unmarshal(unknown.Body, &b)
		if a["title"] != b["title"] || strings.Contains(string(theirs.Body), "Grace") {
			t.Errorf("s2 %s: %s; unknown: %s", rt.path, theirs.Body, unknown.Body)
		}
	}
	if b, _ := os.ReadFile(p.log); bytes.Contains(b, []byte("OPEN PLATFORM")) {
		t.Errorf("warned of an open platform with the agents file on")
	}
}

// secWantProblem checks a problem+json answer of status, naming field ("":
// any).
func secWantProblem(t *testing.T, r reply, status int, field, what string) {
	t.Helper()
	var p struct{ Field string }
	_ = json.Unmarshal(r.Body, &p)
	if r.Status != status || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") ||
		(field != "" && p.Field != field) {
		t.Fatalf("%s: %d %s %s, want a %d problem naming %q", what, r.Status, r.Header.Get("Content-Type"), r.Body, status, field)
	}
}
