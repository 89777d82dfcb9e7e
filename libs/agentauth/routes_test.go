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
	if err := os.WriteFile(path, []byte(`{"agents":[{"id":"a1","token":"t1"},{"id":"a2","token":"t2"}]}`), 0o600); err != nil {
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
			{Pattern: "GET /anyone", Access: agentauth.Anyone, Handle: h},
			{Pattern: "GET /agents", Access: agentauth.AnyAgent, Handle: h},
			{Pattern: "GET /things/{id}", Access: agentauth.Entitled, Handle: h,
				Entitle: func(r *http.Request, agent string) error {
					if r.PathValue("id") == "mine" && agent == "a1" {
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
		{"agent route, anonymous", false, "/agents", "", 401, ""},
		{"agent route, bad token", false, "/agents", "Bearer nope", 401, ""},
		{"agent route, agent", false, "/agents", "Bearer t2", 200, "a2"},
		{"entitled, anonymous", false, "/things/mine", "", 401, ""},
		{"entitled, theirs", false, "/things/mine", "Bearer t1", 200, "a1"},
		{"entitled, someone else's", false, "/things/mine", "Bearer t2", 404, ""},
		{"entitled, unknown", false, "/things/other", "Bearer t1", 404, ""},
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
