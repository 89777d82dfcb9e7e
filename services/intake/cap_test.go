package intake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringback/ringback/libs/clock"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
)

// capReplica is an intake with the binary's default cap and rule.
func capReplica(t *testing.T, store eventstore.Store, clk clock.Clock, log *slog.Logger) string {
	t.Helper()
	mux := http.NewServeMux()
	if _, err := New(Config{RefuseDuplicates: true, MaxOpenPerNumber: DefaultMaxOpenPerNumber}, Deps{Deps: service.Deps{Store: store, Clock: clk, Log: log, Metrics: prometheus.NewRegistry(), Mux: mux}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestOpenCallbacksPerNumberCappedAcrossServicesAndReplicas: 60 requests
// at once for one number, across 10 services and two replicas on one
// embedded store: exactly the cap are admitted, at most one per service,
// and the rest are 409 naming phone_number.
func TestOpenCallbacksPerNumberCappedAcrossServicesAndReplicas(t *testing.T) {
	env := servicetest.New(t)
	bases := []string{capReplica(t, env.Store, env.Clock, env.Log), capReplica(t, env.Store, env.Clock, env.Log)}
	var (
		mu      sync.Mutex
		codes   = map[int]int{}
		created = map[string]int{}
		wg      sync.WaitGroup
		start   = make(chan struct{})
	)
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			svc := fmt.Sprintf("svc-%d", i%10)
			code, field := post(t, bases[i%2], map[string]any{"service": svc, "phone_number": "+14155550123"}, "")
			if code == http.StatusConflict && field != "phone_number" {
				t.Errorf("409 names %q", field)
			}
			mu.Lock()
			defer mu.Unlock()
			codes[code]++
			if code == http.StatusCreated {
				created[svc]++
			}
		}()
	}
	close(start)
	wg.Wait()
	if codes[http.StatusCreated] != DefaultMaxOpenPerNumber || codes[http.StatusConflict] != 60-DefaultMaxOpenPerNumber {
		t.Fatalf("answers %v, want %d 201 and the rest 409", codes, DefaultMaxOpenPerNumber)
	}
	for svc, n := range created {
		if n > 1 {
			t.Fatalf("%d callbacks of %s", n, svc)
		}
	}
	if n := requested(t, env.Store); n != DefaultMaxOpenPerNumber {
		t.Fatalf("%d callbacks stored", n)
	}
	// Once they end, the number takes new ones.
	cancelAll(t, env.Store, bases[1])
	if code, _ := post(t, bases[0], map[string]any{"service": "svc-9", "phone_number": "+14155550123"}, ""); code != http.StatusCreated {
		t.Fatalf("after the cancels: %d", code)
	}
}

// TestNumberRateAcrossReplicas: each replica's own bucket for a number
// (3 an hour, 3 at once) would let 3 through each; the number's claim
// stream holds the limit across both: 3 callbacks, then 429 naming
// phone_number with Retry-After, whichever replica is asked. Once a
// token came back, one more.
func TestNumberRateAcrossReplicas(t *testing.T) {
	env := servicetest.New(t)
	rated := func() string {
		t.Helper()
		mux := http.NewServeMux()
		cfg := Config{Limits: Limits{PerNumber: DefaultPerNumber}}
		if _, err := New(cfg, Deps{Deps: service.Deps{Store: env.Store, Clock: env.Clock, Log: env.Log, Metrics: prometheus.NewRegistry(), Mux: mux}}); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	bases := []string{rated(), rated()}
	const number = "+14155550177"
	create := func(i int) *http.Response {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"service": fmt.Sprintf("svc-%d", i), "phone_number": number})
		res, err := http.Post(bases[i%2]+"/v1/callbacks", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for i := range 6 {
		res := create(i)
		var p problem
		_ = json.NewDecoder(res.Body).Decode(&p)
		res.Body.Close()
		switch {
		case i < 3 && res.StatusCode != http.StatusCreated:
			t.Fatalf("request %d: %d %+v, want 201", i, res.StatusCode, p)
		case i >= 3 && (res.StatusCode != http.StatusTooManyRequests || p.Field != "phone_number" || res.Header.Get("Retry-After") == ""):
			t.Fatalf("request %d: %d field %q Retry-After %q, want 429 naming phone_number with Retry-After", i, res.StatusCode, p.Field, res.Header.Get("Retry-After"))
		}
	}
	if n := requested(t, env.Store); n != 3 {
		t.Fatalf("%d callbacks stored, want 3", n)
	}
	env.Clock.Advance(20 * time.Minute) // a token every 20 minutes
	res := create(7)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("20 minutes later: %d, want 201", res.StatusCode)
	}
}
