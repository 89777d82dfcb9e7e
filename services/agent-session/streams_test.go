package agentsession

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/libs/servicetest"
)

// TestEventStreamsAreBounded (issue 16): the (N+1)-th stream of an agent,
// and of an address, answers 429 problem+json; a closed stream gives its
// place back.
func TestEventStreamsAreBounded(t *testing.T) {
	env := servicetest.New(t)
	r := startReplica(t, env, Config{StreamsPerAgent: 2, StreamsPerAddress: 3}, nil)
	get := func(agent string) int {
		t.Helper()
		res, err := http.Get(r.srv.URL + "/v1/agents/" + agent + "/events")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode == http.StatusTooManyRequests {
			var p httpx.Problem
			if res.Header.Get("Content-Type") != "application/problem+json" || json.NewDecoder(res.Body).Decode(&p) != nil || p.Status != 429 {
				t.Fatalf("429 not a problem: %q", res.Header.Get("Content-Type"))
			}
		}
		return res.StatusCode
	}
	receive(t, listen(t, r.srv, "a1", ""))
	receive(t, listen(t, r.srv, "a1", ""))
	if code := get("a1"); code != http.StatusTooManyRequests {
		t.Fatalf("third stream of a1: %d, want 429", code)
	}
	receive(t, listen(t, r.srv, "a2", "")) // the address's third
	if code := get("a3"); code != http.StatusTooManyRequests {
		t.Fatalf("fourth stream of the address: %d, want 429", code)
	}

	// Places come back when streams end: each stream below is closed by
	// the client before the next.
	r2 := startReplica(t, env, Config{StreamsPerAgent: 1}, nil)
	for i := range 3 {
		deadline := time.Now().Add(5 * time.Second)
		for {
			res, err := http.Get(r2.srv.URL + "/v1/agents/b1/events")
			if err != nil {
				t.Fatal(err)
			}
			code := res.StatusCode
			res.Body.Close()
			if code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("stream %d: place not given back: %d", i, code)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestRescheduleRefusesAnOffsetOf24Hours (issue 16): time.Parse takes
// -24:00, RFC 3339 does not; the 400 names the field.
func TestRescheduleRefusesAnOffsetOf24Hours(t *testing.T) {
	env := servicetest.New(t)
	r := startReplica(t, env, Config{}, nil)
	res, err := http.Post(r.srv.URL+"/v1/interactions/00000000-0000-4000-8000-000000000000/reschedule", "application/json",
		strings.NewReader(`{"time":"2026-12-04T10:00:00-24:00"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var p httpx.Problem
	if err := json.NewDecoder(res.Body).Decode(&p); err != nil || res.StatusCode != 400 || p.Field != "time" {
		t.Fatalf("%d %+v %v", res.StatusCode, p, err)
	}
}
