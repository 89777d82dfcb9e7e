package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/oidctest"
)

// matrixPrincipal is one credential of the route × role test: for each
// role, one principal entitled to the test's callback and, where a role
// can be refused what is not theirs, one that is not.
type matrixPrincipal struct {
	name     string
	token    string
	roles    agentauth.Role
	id       string
	services []string // nil: every service
}

func (p matrixPrincipal) covers(service string) bool {
	return p.roles&(agentauth.RoleSupervisor|agentauth.RoleClient) != 0 &&
		(p.services == nil || slices.Contains(p.services, service))
}

var matrixPrincipals = []matrixPrincipal{
	{name: "visitor", roles: agentauth.RoleVisitor},
	{name: "agent a1 (handles it)", token: "a1-token", roles: agentauth.RoleAgent, id: "a1"},
	{name: "agent a2 (not theirs)", token: "a2-token", roles: agentauth.RoleAgent, id: "a2"},
	{name: "supervisor of support", token: "s1-token", roles: agentauth.RoleAgent | agentauth.RoleSupervisor, id: "s1", services: []string{"support"}},
	{name: "supervisor of billing", token: "s2-token", roles: agentauth.RoleAgent | agentauth.RoleSupervisor, id: "s2", services: []string{"billing"}},
	{name: "client of support", token: "c1-key", roles: agentauth.RoleClient, id: "c1", services: []string{"support"}},
	{name: "client of billing", token: "c2-key", roles: agentauth.RoleClient, id: "c2", services: []string{"billing"}},
	{name: "operator", token: "o1-token", roles: agentauth.RoleOperator, id: "o1"},
}

const matrixAgents = `{"agents":[{"id":"a1","token":"a1-token"},{"id":"a2","token":"a2-token"},
 {"id":"s1","token":"s1-token","supervisor":true,"services":["support"]},
 {"id":"s2","token":"s2-token","supervisor":true,"services":["billing"]}],
 "clients":[{"id":"c1","key":"c1-key","services":["support"]},{"id":"c2","key":"c2-key","services":["billing"]}],
 "operators":[{"id":"o1","token":"o1-token"}], "session_key_file":"%s"}`

// matrixApp is the single-process app, in the test: its store's head tells
// whether a refused request changed anything.
type matrixApp struct {
	url   string
	store eventstore.Store
}

func startMatrixApp(t *testing.T) matrixApp {
	t.Helper()
	tmp := t.TempDir()
	key, agents := filepath.Join(tmp, "session.key"), filepath.Join(tmp, "agents.json")
	if err := os.WriteFile(key, []byte(strings.Repeat("k", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(agents, fmt.Appendf(nil, matrixAgents, key), 0o600); err != nil {
		t.Fatal(err)
	}
	// Single sign-on on, so that its routes are walked too.
	idp := oidctest.Start(t, "ringback", "secret")
	addr := freePort(t, "tcp")
	a := runInProcess(t, addr, []string{"--http=" + addr, "--sip=127.0.0.1:0", "--data=" + t.TempDir(), "--log-level=error",
		"--agents=" + agents, "--media.trunk-keepalive=0", "--scheduler.calling-window=00:00-24:00",
		"--agent-session.calling-window=00:00-24:00", "--oidc.issuer=" + idp.URL, "--oidc.client-id=ringback",
		"--oidc.client-secret=secret", "--oidc.redirect-url=http://" + addr + "/auth/oidc/callback",
		"--oidc.roles=cc-agents=agent",
		// Every principal's requests come from 127.0.0.1: the rate limits
		// (issue 12, tested in services/intake) would refuse the matrix's.
		"--intake.rate-address=off", "--intake.rate-number=off"}, nil)
	url := "http://" + addr
	return matrixApp{url: url, store: a.Store}
}

type matrixReply struct {
	status int
	ctype  string
	body   []byte
}

func (m matrixApp) do(t *testing.T, method, path, token, ctype string, body []byte) matrixReply {
	t.Helper()
	req, err := http.NewRequest(method, m.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// A stream (the desktop's events) answers its headers, then waits: the
	// status is all the test needs.
	ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
	defer cancel()
	res, err := matrixClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	r := matrixReply{status: res.StatusCode, ctype: res.Header.Get("Content-Type")}
	if !strings.HasPrefix(r.ctype, "text/event-stream") {
		r.body, _ = io.ReadAll(res.Body)
	}
	return r
}

func (m matrixApp) json(t *testing.T, path, token string, v any) int {
	t.Helper()
	r := m.do(t, "GET", path, token, "", nil)
	if r.status == 200 {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, r.body)
		}
	}
	return r.status
}

func (m matrixApp) head(t *testing.T) eventstore.Position {
	t.Helper()
	p, err := m.store.(eventstore.HeadReader).Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// eventually polls until ok, for what the services learn from the bus.
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within 20s: %s", what)
		}
	}
}

// matrixClient does not follow redirects: a sign-in's redirect to the
// provider is the answer the route gives.
var matrixClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// openapiRoles reads api/openapi.yaml's x-roles per operation, "GET
// /v1/callbacks/{id}" → [agent supervisor client], following the paths that
// are a $ref to a component path item. A line scan, as the document's
// layout is ours: two spaces before a path, four before a method.
func openapiRoles(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var (
		out            = map[string][]string{}
		items          = map[string][]string{} // component path item → "METHOD roles"
		refs           = map[string]string{}   // path → component path item
		path, method   string
		inItems        bool
		pathLine       = regexp.MustCompile(`^  (/\S*):\s*(\{\$ref: '#/components/pathItems/(\w+)'\})?`)
		itemLine       = regexp.MustCompile(`^    (\w+):\s*$`)
		methodLine     = regexp.MustCompile(`^\s+(get|post|put|delete|patch):\s*$`)
		rolesLine      = regexp.MustCompile(`^\s+x-roles: \[(.*)\]`)
		componentsLine = regexp.MustCompile(`^  pathItems:`)
		refLine        = regexp.MustCompile(`^    \$ref: '#/components/pathItems/(\w+)'`)
	)
	for _, ln := range strings.Split(string(b), "\n") {
		switch {
		case componentsLine.MatchString(ln):
			inItems, path = true, ""
		case !inItems && pathLine.MatchString(ln):
			m := pathLine.FindStringSubmatch(ln)
			path, method = m[1], ""
			if m[3] != "" {
				refs[path] = m[3]
			}
		case inItems && itemLine.MatchString(ln):
			path = "#" + itemLine.FindStringSubmatch(ln)[1]
		case inItems && strings.HasPrefix(ln, "  ") && !strings.HasPrefix(ln, "    "):
			inItems, path = false, "" // the next components section
		case !inItems && path != "" && refLine.MatchString(ln):
			refs[path] = refLine.FindStringSubmatch(ln)[1]
		case methodLine.MatchString(ln):
			method = strings.ToUpper(methodLine.FindStringSubmatch(ln)[1])
		case rolesLine.MatchString(ln) && path != "" && method != "":
			roles := strings.Split(strings.ReplaceAll(rolesLine.FindStringSubmatch(ln)[1], " ", ""), ",")
			if strings.HasPrefix(path, "#") {
				items[path[1:]] = append([]string{method}, roles...)
			} else {
				out[method+" "+path] = roles
			}
		}
	}
	for p, item := range refs {
		if r, ok := items[item]; ok {
			out[r[0]+" "+p] = r[1:]
		}
	}
	return out
}
