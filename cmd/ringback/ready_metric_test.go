package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestReadyMetric: the process exports its readiness beside the operations
// metrics the alerts and the dashboard of deploy/ read (those whose series
// exist before any traffic): ringback_ready turns 1 once /readyz answers 200.
func TestReadyMetric(t *testing.T) {
	api := startServer(t)
	var body string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err := http.Get(api + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		body = string(b)
		if strings.Contains(body, "\nringback_ready 1\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ringback_ready 1 within 20s; /metrics has:\n%s", grepLines(body, "ringback_ready"))
		}
	}
	if res, err := http.Get(api + "/readyz"); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("ringback_ready 1 but /readyz %v %v", res, err)
	}
	for _, want := range []string{"ringback_relay_lag_seconds ", "ringback_relay_unpublished_events ",
		`ringback_router_offer_outcomes_total{outcome="timed_out"} `, `ringback_call_outcomes_total{outcome="connected"} `,
		"ringback_agent_event_streams "} {
		if !strings.Contains(body, "\n"+want) {
			t.Errorf("/metrics: no %s", want)
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
