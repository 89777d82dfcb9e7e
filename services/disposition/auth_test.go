package disposition_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/ringback/ringback/libs/servicetest"
	"github.com/ringback/ringback/services/disposition/code"
)

// TestDispositionIsForItsAgent (issue 16): with agents on, anonymous 401
// and nothing set; another agent gets the 404 of an unknown interaction;
// the agent who accepted it sets it.
func TestDispositionIsForItsAgent(t *testing.T) {
	env := startWith(t, servicetest.AgentsFile(t, "a1", "a2"))
	accept(env, "c1", "i1", "a1")
	body := map[string]string{"code": "resolved"}
	path := "/v1/interactions/i1/disposition"

	for _, h := range []map[string]string{nil, {"Authorization": "Bearer wrong"}} {
		for _, rt := range []struct{ method, path string }{{"PUT", path}, {"GET", "/v1/dispositions"}} {
			if res := env.DoWith(rt.method, rt.path, h, body, nil); res.StatusCode != http.StatusUnauthorized ||
				res.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s %s with %v: %d", rt.method, rt.path, h, res.StatusCode)
			}
		}
	}
	var theirs, none map[string]any
	r1 := env.DoWith("PUT", path, servicetest.Bearer("a2"), body, &theirs)
	r2 := env.DoWith("PUT", "/v1/interactions/i9/disposition", servicetest.Bearer("a2"), body, &none)
	for _, m := range []map[string]any{theirs, none} {
		delete(m, "instance")
		delete(m, "detail")
	}
	a, _ := json.Marshal(theirs)
	b, _ := json.Marshal(none)
	if r1.StatusCode != http.StatusNotFound || r2.StatusCode != http.StatusNotFound || string(a) != string(b) {
		t.Fatalf("a2: %d %s; unknown: %d %s", r1.StatusCode, a, r2.StatusCode, b)
	}
	if n := len(env.Events(code.Stream("i1"))); n != 1 {
		t.Fatalf("refused PUTs wrote: %d events, want only the opening", n)
	}
	if res := env.DoWith("PUT", path, servicetest.Bearer("a1"), body, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("a1: %d", res.StatusCode)
	}
	if res := env.DoWith("GET", "/v1/dispositions", servicetest.Bearer("a2"), nil, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("catalogue for a2: %d", res.StatusCode)
	}
}
