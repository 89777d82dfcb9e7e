package agentauth_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/httpx"
)

func directory(t *testing.T) *agentauth.Directory {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agents.json")
	if err := os.WriteFile(path, []byte(`{"agents":[{"id":"a1","token":"t1"},{"id":"a2","token":"t2"},
		{"id":"s1","token":"t3","supervisor":true,"services":["support"]}],
		"clients":[{"id":"crm","key":"k1","services":["billing"]}],
		"operators":[{"id":"ops","token":"o1"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := agentauth.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRouteTable: every access rule, with and without the agents file.
func TestRouteTable(t *testing.T) {
	t.Parallel()
	table := func(calls *int) []agentauth.Route {
		h := func(w http.ResponseWriter, r *http.Request) error {
			*calls++
			httpx.WriteJSON(w, http.StatusOK, map[string]string{"agent": agentauth.Agent(r.Context())})
			return nil
		}
		return []agentauth.Route{
			{Pattern: "GET /anyone", Roles: agentauth.Everyone, Handle: h},
			{Pattern: "GET /agents", Roles: agentauth.RoleAgent, Handle: h},
			{Pattern: "GET /ops", Roles: agentauth.RoleOperator, Handle: h},
			{Pattern: "GET /closed", Handle: h},
			{Pattern: "GET /form", Roles: agentauth.RoleVisitor | agentauth.RoleClient, Handle: h},
			{Pattern: "GET /things/{id}", Roles: agentauth.RoleAgent | agentauth.RoleSupervisor | agentauth.RoleClient, Handle: h,
				// "mine" is a1's thing of service support; "theirs" of billing.
				Entitle: func(r *http.Request, p agentauth.Principal) error {
					switch id := r.PathValue("id"); {
					case id == "mine" && (p.IsAgent("a1") || p.Covers("support")):
						return nil
					case id == "theirs" && p.Covers("billing"):
						return nil
					}
					return httpx.NotFound("no thing " + r.PathValue("id"))
				}},
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name       string
		open       bool
		path, auth string
		status     int
		agent      string
	}{
		{"anyone, anonymous", false, "/anyone", "", 200, ""},
		{"anyone, with a token", false, "/anyone", "Bearer t1", 200, "a1"},
		{"anyone, with a bad token", false, "/anyone", "Bearer nope", 401, ""},
		{"agent route, anonymous", false, "/agents", "", 401, ""},
		{"agent route, bad token", false, "/agents", "Bearer nope", 401, ""},
		{"agent route, not a bearer", false, "/agents", "Basic dDE6", 401, ""},
		{"agent route, agent", false, "/agents", "Bearer t2", 200, "a2"},
		{"agent route, a supervisor is an agent", false, "/agents", "Bearer t3", 200, "s1"},
		{"agent route, client", false, "/agents", "Bearer k1", 403, ""},
		{"agent route, operator", false, "/agents", "Bearer o1", 403, ""},
		{"operator route, operator", false, "/ops", "Bearer o1", 200, ""},
		{"operator route, supervisor", false, "/ops", "Bearer t3", 403, ""},
		{"closed route, operator", false, "/closed", "Bearer o1", 403, ""},
		{"visitor route, an agent acts as a visitor", false, "/form", "Bearer t1", 200, ""},
		{"visitor route, a bad token is still refused", false, "/form", "Bearer nope", 401, ""},
		{"closed route, anonymous", false, "/closed", "", 403, ""},
		{"entitled, anonymous", false, "/things/mine", "", 401, ""},
		{"entitled, theirs", false, "/things/mine", "Bearer t1", 200, "a1"},
		{"entitled, someone else's", false, "/things/mine", "Bearer t2", 404, ""},
		{"entitled, unknown", false, "/things/other", "Bearer t1", 404, ""},
		{"entitled, supervisor of its service", false, "/things/mine", "Bearer t3", 200, "s1"},
		{"entitled, supervisor of another service", false, "/things/theirs", "Bearer t3", 404, ""},
		{"entitled, client of its service", false, "/things/theirs", "Bearer k1", 200, ""},
		{"entitled, client of another service", false, "/things/mine", "Bearer k1", 404, ""},
		{"entitled, operator", false, "/things/mine", "Bearer o1", 403, ""},
		{"access_token on a GET", false, "/agents?access_token=t2", "", 200, "a2"},
		{"open platform, agent route", true, "/agents", "", 200, ""},
		{"open platform, entitled route", true, "/things/other", "", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dir *agentauth.Directory
			if !tc.open {
				dir = directory(t)
			}
			calls := 0
			mux := http.NewServeMux()
			agentauth.Register(mux, log, dir, table(&calls))
			req := httptest.NewRequest("GET", tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status != 200 {
				if calls != 0 || rec.Header().Get("Content-Type") != "application/problem+json" {
					t.Fatalf("refused, yet the handler ran %d times; content type %q", calls, rec.Header().Get("Content-Type"))
				}
				var p struct{ Field string }
				_ = json.Unmarshal(rec.Body.Bytes(), &p)
				if (tc.status == 401 || tc.status == 403) && p.Field != "Authorization" {
					t.Fatalf("a refusal by credential names field %q, want Authorization: %s", p.Field, rec.Body)
				}
				return
			}
			var out map[string]string
			_ = json.Unmarshal(rec.Body.Bytes(), &out)
			if out["agent"] != tc.agent {
				t.Fatalf("agent %q, want %q", out["agent"], tc.agent)
			}
		})
	}
}
