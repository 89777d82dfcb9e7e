package router_test

import (
	"flag"
	"net/http"
	"testing"

	"github.com/ringback/ringback/libs/servicetest"
	"github.com/ringback/ringback/services/router"
)

// TestQueuesAreForAgents (issue 16): with agents on, the queues answer an
// agent's token only.
func TestQueuesAreForAgents(t *testing.T) {
	env := servicetest.New(t)
	var cfg router.Config
	cfg.RegisterFlags(flag.NewFlagSet("router", flag.ContinueOnError))
	cfg.AgentsFile = servicetest.AgentsFile(t, "a1")
	if _, err := router.New(cfg, router.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock,
		Log: env.Log, Metrics: env.Registry, Mux: env.Mux}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/queues", "/v1/queues/support"} {
		for _, h := range []map[string]string{nil, {"Authorization": "Bearer wrong"}} {
			if res := env.DoWith("GET", path, h, nil, nil); res.StatusCode != http.StatusUnauthorized ||
				res.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("GET %s with %v: %d", path, h, res.StatusCode)
			}
		}
		if res := env.DoWith("GET", path, servicetest.Bearer("a1"), nil, nil); res.StatusCode != http.StatusOK {
			t.Errorf("GET %s as a1: %d", path, res.StatusCode)
		}
	}
}
