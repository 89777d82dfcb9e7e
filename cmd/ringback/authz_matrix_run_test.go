package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/agentauth"
)

// TestRouteRoleMatrix (issue 16) walks every route of the single-process
// app, as its route tables list them at GET /admin/routes, with every role:
// a visitor, agents with and without the interaction, supervisors and API
// clients of its service and of another, an operator. A refusal answers
// exactly 401 (no credential), 403 (a role the route does not grant, or
// another agent's session) or 404 (not theirs, as an unknown id), in
// problem+json, and leaves the store's head where it was; an allowed call
// is not refused. A route without roles fails the test, as does a path
// parameter the test has no value for.
func TestRouteRoleMatrix(t *testing.T) {
	m := startMatrixApp(t)
	const number = "+14155550188"
	var routes struct {
		Routes []struct {
			Pattern  string   `json:"pattern"`
			Roles    []string `json:"roles"`
			Entitled bool     `json:"entitled"`
		} `json:"routes"`
	}
	if st := m.json(t, "/admin/routes", "o1-token", &routes); st != 200 || len(routes.Routes) < 30 {
		t.Fatalf("GET /admin/routes as the operator: %d, %d routes", st, len(routes.Routes))
	}

	// The callback everything is about: offered to a1, accepted.
	a1 := "a1-token"
	if r := m.do(t, "POST", "/v1/agents/a1/session", a1, "application/json", []byte(`{}`)); r.status != 200 {
		t.Fatalf("a1 login: %d %s", r.status, r.body)
	}
	m.do(t, "PUT", "/v1/agents/a1/state", a1, "application/json", []byte(`{"channel":"webcallback","state":"READY"}`))
	var cb struct {
		ID          string
		SelfService struct{ Token string } `json:"self_service"`
	}
	r := m.do(t, "POST", "/v1/callbacks", "", "application/json",
		[]byte(`{"service":"support","phone_number":"`+number+`","contact_name":"Matrix Canary","subject":"matrix"}`))
	if r.status != 201 || json.Unmarshal(r.body, &cb) != nil {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var ag struct{ Interactions []string }
	eventually(t, "an offer to a1", func() bool { m.json(t, "/v1/agents/a1", a1, &ag); return len(ag.Interactions) > 0 })
	ix := ag.Interactions[0]
	if r := m.do(t, "POST", "/v1/interactions/"+ix+"/accept", a1, "", nil); r.status != 200 && r.status != 202 {
		t.Fatalf("accept: %d %s", r.status, r.body)
	}
	for _, p := range []string{"/v1/callbacks/" + cb.ID, "/v1/schedule/" + cb.ID, "/v1/interactions/" + ix + "/events",
		"/v1/contacts/%2B14155550188/history"} {
		eventually(t, "a1 reads "+p, func() bool { return m.json(t, p, a1, &json.RawMessage{}) == 200 })
	}
	time.Sleep(300 * time.Millisecond) // the last events of the accept settle

	// The document says what the tables say, for every /v1 and operator route.
	documented := openapiRoles(t)
	for _, rt := range routes.Routes {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		if !strings.HasPrefix(path, "/v1/") && !strings.HasPrefix(path, "/admin/") && !strings.HasPrefix(path, "/auth/") && path != "/metrics" {
			continue
		}
		if got, ok := documented[method+" "+path]; !ok {
			t.Errorf("%s is not in api/openapi.yaml with x-roles", rt.Pattern)
		} else if !slices.Equal(got, rt.Roles) {
			t.Errorf("%s: api/openapi.yaml says x-roles %v, the route table %v", rt.Pattern, got, rt.Roles)
		}
	}

	// The token of the callback's self-service link: whoever holds it,
	// whatever else they are, may use it (the callback being handled, a
	// change answers 409 and stores nothing).
	values := map[string]string{"agent": "a1", "phone_number": "%2B14155550188", "service": "support", "token": cb.SelfService.Token,
		"file": "form.css", "call": "no-such-call"}
	if cb.SelfService.Token == "" {
		t.Error("the create answer carries no self-service link")
	}
	var later [][2]any // allowed commands that change state, run after every refusal
	refusals := 0
	for _, rt := range routes.Routes {
		method, path, ok := strings.Cut(rt.Pattern, " ")
		if !ok {
			t.Errorf("route %q has no method", rt.Pattern)
			continue
		}
		if len(rt.Roles) == 0 {
			t.Errorf("route %s declares no roles: say who may call it in its route table", rt.Pattern)
			continue
		}
		var roles agentauth.Role
		for _, one := range agentauth.Roles() {
			if slices.Contains(rt.Roles, one.Names()[0]) {
				roles |= one
			}
		}
		var params [][]string
		if rt.Entitled {
			params = pathParam.FindAllStringSubmatch(path, -1)
		}
		var missing string
		path = pathParam.ReplaceAllStringFunc(path, func(p string) string {
			name := p[1 : len(p)-1]
			if name == "id" {
				if strings.HasPrefix(path, "/v1/interactions/") {
					return ix
				}
				return cb.ID
			}
			v, ok := values[name]
			if !ok {
				missing = name
			}
			return v
		})
		if missing != "" {
			t.Errorf("route %s: the test has no value for {%s}; add one", rt.Pattern, missing)
			continue
		}
		for _, p := range matrixPrincipals {
			want := expect(roles, params, p)
			if want == 0 {
				if method == "GET" || method == "HEAD" {
					m.allowed(t, method, path, p, rt.Pattern)
				} else {
					later = append(later, [2]any{rt.Pattern + " " + path, p})
				}
				continue
			}
			refusals++
			before := m.head(t)
			r := m.do(t, method, path, p.token, "application/json", []byte(`{}`))
			if r.status != want || !strings.HasPrefix(r.ctype, "application/problem+json") {
				t.Errorf("%s as %s: %d %s %s, want a %d problem", rt.Pattern, p.name, r.status, r.ctype, r.body, want)
			}
			if leaks(r.body) {
				t.Errorf("%s as %s: personal data in a refusal: %s", rt.Pattern, p.name, r.body)
			}
			if after := m.head(t); after != before {
				t.Errorf("%s as %s: refused, yet the store moved from %v to %v", rt.Pattern, p.name, before, after)
			}
		}
	}
	// Commands last, least final first, so that an allowed one does not
	// take the interaction from under the next.
	slices.SortStableFunc(later, func(a, b [2]any) int { return finality(a[0].(string)) - finality(b[0].(string)) })
	for _, l := range later {
		method, path, _ := strings.Cut(l[0].(string), " ")
		_, path, _ = strings.Cut(path, " ")
		m.allowed(t, method, path, l[1].(matrixPrincipal), l[0].(string))
	}
	t.Logf("%d routes × %d principals: %d refusals checked", len(routes.Routes), len(matrixPrincipals), refusals)

	// History by number: not yours answers as an unknown number does.
	for _, token := range []string{"a2-token", "s2-token", "c2-key"} {
		theirs := m.do(t, "GET", "/v1/contacts/%2B14155550188/history", token, "", nil)
		unknown := m.do(t, "GET", "/v1/contacts/%2B14155550199/history", token, "", nil)
		var a, b map[string]any
		_ = json.Unmarshal(theirs.body, &a)
		_ = json.Unmarshal(unknown.body, &b)
		if theirs.status != 404 || unknown.status != 404 || a["detail"] != b["detail"] {
			t.Errorf("%s: not theirs %d %s; unknown %d %s", token, theirs.status, theirs.body, unknown.status, unknown.body)
		}
	}
	// An API client creates callbacks of its services only.
	body := []byte(`{"service":"support","phone_number":"+14155550189"}`)
	if r := m.do(t, "POST", "/v1/callbacks", "c2-key", "application/json", body); r.status != 403 || !strings.Contains(string(r.body), `"field":"service"`) {
		t.Errorf("client of billing creates a support callback: %d %s", r.status, r.body)
	}
	if r := m.do(t, "POST", "/v1/callbacks", "c1-key", "application/json", body); r.status != 201 {
		t.Errorf("client of support creates a support callback: %d %s", r.status, r.body)
	}

	// The same number asks billing: each service's supervisor reads the
	// history of their service only; the agent handling it reads it all.
	r = m.do(t, "POST", "/v1/callbacks", "", "application/json", []byte(`{"service":"billing","phone_number":"`+number+`"}`))
	if r.status != 201 {
		t.Fatalf("billing callback: %d %s", r.status, r.body)
	}
	services := func(token string) []string {
		var rows []struct{ Service string }
		if st := m.json(t, "/v1/contacts/%2B14155550188/history", token, &rows); st != 200 {
			return nil
		}
		var out []string
		for _, row := range rows {
			out = append(out, row.Service)
		}
		slices.Sort(out)
		return out
	}
	eventually(t, "the agent reads both services' callbacks", func() bool { return len(services(a1)) == 2 })
	eventually(t, "billing's supervisor reads billing's", func() bool { return slices.Equal(services("s2-token"), []string{"billing"}) })
	if got := services("s1-token"); !slices.Equal(got, []string{"support"}) {
		t.Errorf("support's supervisor reads the history of %v, want support only", got)
	}
	if got := services("c2-key"); !slices.Equal(got, []string{"billing"}) {
		t.Errorf("billing's client reads the history of %v, want billing only", got)
	}
}

// expect is the status a refusal answers, or 0 if p may call the route:
// the route's roles first (401 for a visitor, 403 for anyone else, unless
// visitors may call it: then anyone may, as a visitor), then,
// if the route is entitled, what the path names (another agent's session
// 403, anything else not theirs 404).
func expect(roles agentauth.Role, params [][]string, p matrixPrincipal) int {
	allowed := roles & p.roles
	if allowed == 0 && roles&agentauth.RoleVisitor != 0 {
		allowed = agentauth.RoleVisitor // a credential the route does not grant counts for nothing
		p = matrixPrincipal{roles: agentauth.RoleVisitor}
	}
	switch {
	case allowed == 0 && p.roles == agentauth.RoleVisitor:
		return 401
	case allowed == 0:
		return 403
	}
	p.roles = allowed
	agent := allowed&agentauth.RoleAgent != 0
	for _, param := range params {
		switch param[1] {
		case "agent":
			if !agent || p.id != "a1" {
				return 403
			}
		case "id", "phone_number":
			if allowed != agentauth.RoleVisitor && !(agent && p.id == "a1") && !p.covers("support") {
				return 404
			}
		case "service":
			if allowed&(agentauth.RoleAgent|agentauth.RoleOperator) == 0 && !p.covers("support") {
				return 404
			}
		}
	}
	return 0
}

// allowed calls a route p may call: any answer but a refusal will do (a
// command may find the call in the wrong state, 409; a body the wrong
// type, 415), since the route's own tests check the rest.
func (m matrixApp) allowed(t *testing.T, method, path string, p matrixPrincipal, what string) {
	t.Helper()
	// A body of the wrong type: a handler that decodes one stops at 415,
	// after the authorisation it is here to show, and changes nothing.
	r := m.do(t, method, path, p.token, "text/plain", []byte("x"))
	// A refusal of what the path names is a 404 naming no field; one that
	// names it (a service without capacity) is the route's own answer.
	var named struct{ Field string }
	_ = json.Unmarshal(r.body, &named)
	if r.status == 401 || r.status == 403 || (r.status == 404 && named.Field == "") {
		t.Errorf("%s as %s: refused %d %s, want it allowed", what, p.name, r.status, r.body)
	}
}

// leaks says whether a refusal tells anything of the contact; its
// instance is the path the caller sent, number included, so not a leak.
func leaks(body []byte) bool {
	var p map[string]any
	if json.Unmarshal(body, &p) != nil {
		return true
	}
	delete(p, "instance")
	b, _ := json.Marshal(p)
	return strings.Contains(string(b), "Matrix Canary") || strings.Contains(string(b), "4155550188")
}

// finality orders the commands: the ones that end the call or the
// session last.
func finality(route string) int {
	for i, last := range []string{"/reject", "/transfer", "/consult", "/end-call", "/done", "DELETE /v1/callbacks", "DELETE /genesys/", "DELETE /v1/agents", "DELETE /v1/contacts"} {
		if strings.Contains(route, last) {
			return i + 1
		}
	}
	return 0
}
