package main

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestOperatorRoutes (issue 16): with the agents file on, /metrics and
// /admin/routes answer an operator's token only; with --ops-http they are
// on that listener, without a token, and no longer on --http.
func TestOperatorRoutes(t *testing.T) {
	agents := filepath.Join(t.TempDir(), "agents.json")
	if err := os.WriteFile(agents, []byte(`{"agents":[{"id":"a1","token":"a1-token"}],
		"operators":[{"id":"ops","token":"ops-token"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	status := func(url, token string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	api := startServer(t, "--agents="+agents)
	for _, path := range []string{"/metrics", "/admin/routes"} {
		for token, want := range map[string]int{"": 401, "a1-token": 403, "ops-token": 200} {
			if got := status(api+path, token); got != want {
				t.Errorf("GET %s with token %q: %d, want %d", path, token, got, want)
			}
		}
	}
	if got := status(api+"/healthz", ""); got != 200 {
		t.Errorf("GET /healthz: %d, want 200 for a probe without a token", got)
	}

	ops := freePort(t, "tcp")
	api = startServer(t, "--agents="+agents, "--ops-http="+ops)
	if got := status("http://"+ops+"/metrics", ""); got != 200 {
		t.Errorf("GET /metrics on --ops-http: %d, want 200 without a token", got)
	}
	if got := status(api+"/metrics", "ops-token"); got != 404 {
		t.Errorf("GET /metrics on --http with --ops-http set: %d, want 404", got)
	}
}
