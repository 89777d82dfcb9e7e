package intake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/ratelimit"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/libs/servicetest"
)

// limited is an intake with cfg's limits on an embedded store.
func limited(t testing.TB, cfg Config) *servicetest.Env {
	t.Helper()
	env := servicetest.New(t)
	s, err := New(cfg, Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
	if err != nil {
		t.Fatal(err)
	}
	env.Go(s.Run)
	return env
}

// createAnswer is a create's status with its problem and Retry-After.
type createAnswer struct {
	code        int
	field       string
	limit       string
	retryAfter  string
	retryMember int
	contentType string
}

func create(t testing.TB, base string, body map[string]any, header map[string]string) createAnswer {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", base+"/v1/callbacks", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return createAnswer{}
	}
	defer res.Body.Close()
	var p struct {
		Field      string `json:"field"`
		Limit      string `json:"limit"`
		RetryAfter int    `json:"retry_after"`
	}
	_ = json.NewDecoder(res.Body).Decode(&p)
	return createAnswer{code: res.StatusCode, field: p.Field, limit: p.Limit, retryAfter: res.Header.Get("Retry-After"),
		retryMember: p.RetryAfter, contentType: res.Header.Get("Content-Type")}
}

func number(i int) string { return fmt.Sprintf("+1415555%04d", i) }

func TestRateLimits(t *testing.T) {
	cfg := Config{RefuseDuplicates: true, Limits: Limits{
		PerAddress:     ratelimit.Limit{Count: 10, Per: time.Minute, Burst: 5},
		PerNumber:      ratelimit.Limit{Count: 3, Per: time.Hour, Burst: 3},
		PerService:     ratelimit.Limit{Count: 20, Per: time.Second, Burst: 8},
		Replicas:       2, // this replica's share: 20 per 2 s, 4 at once
		TrustedProxies: "127.0.0.1/32",
	}}
	env := limited(t, cfg)
	base := env.Server.URL
	from := func(addr string) map[string]string { return map[string]string{"X-Forwarded-For": addr} }

	// Per address: 5 at once, then 429 for 6 s (one token every 6 s).
	for i := range 5 {
		if a := create(t, base, map[string]any{"service": fmt.Sprintf("a-%d", i), "phone_number": number(i)}, from("198.51.100.1")); a.code != http.StatusCreated {
			t.Fatalf("request %d: %+v", i, a)
		}
	}
	a := create(t, base, map[string]any{"service": "support", "phone_number": number(5)}, from("198.51.100.1"))
	if a.code != http.StatusTooManyRequests || a.limit != "client_address" || a.retryAfter != "6" || a.retryMember != 6 ||
		a.contentType != "application/problem+json" {
		t.Fatalf("6th from one address: %+v", a)
	}
	// Another address is its own bucket; a made-up hop left of the real one changes nothing.
	if a := create(t, base, map[string]any{"service": "support", "phone_number": number(6)}, from("198.51.100.1, 198.51.100.2")); a.code != http.StatusCreated {
		t.Fatalf("another address: %+v", a)
	}
	env.Clock.Advance(6 * time.Second)
	if a := create(t, base, map[string]any{"service": "support", "phone_number": number(7)}, from("198.51.100.1")); a.code != http.StatusCreated {
		t.Fatalf("after Retry-After: %+v", a)
	}

	// Per number, whatever the address and service: 3, then 429 naming phone_number.
	env.Clock.Advance(time.Hour)
	for i := range 3 {
		body := map[string]any{"service": fmt.Sprintf("svc-%d", i), "phone_number": "+14155550199"}
		if a := create(t, base, body, from(fmt.Sprintf("203.0.113.%d", i))); a.code != http.StatusCreated {
			t.Fatalf("number, request %d: %+v", i, a)
		}
	}
	a = create(t, base, map[string]any{"service": "svc-9", "phone_number": "+14155550199"}, from("203.0.113.9"))
	if a.code != http.StatusTooManyRequests || a.field != "phone_number" || a.limit != "phone_number" || a.retryAfter != "1200" {
		t.Fatalf("4th for one number: %+v", a)
	}

	// Per service, this replica's share: 4 at once.
	env.Clock.Advance(time.Hour)
	for i := range 4 {
		if a := create(t, base, map[string]any{"service": "sales", "phone_number": number(100 + i)}, from(fmt.Sprintf("192.0.2.%d", i))); a.code != http.StatusCreated {
			t.Fatalf("service, request %d: %+v", i, a)
		}
	}
	a = create(t, base, map[string]any{"service": "sales", "phone_number": number(110)}, from("192.0.2.10"))
	if a.code != http.StatusTooManyRequests || a.field != "service" || a.limit != "service" || a.retryAfter != "1" {
		t.Fatalf("5th for the service: %+v", a)
	}
}

// An API client (a site's back end, every visitor's request from one
// address) is not limited per address; it is per number.
func TestAPIClientsAreNotLimitedPerAddress(t *testing.T) {
	dir := t.TempDir()
	agents := filepath.Join(dir, "agents.json")
	if err := os.WriteFile(agents, []byte(`{"agents":[{"id":"a1","token":"t-a1"}],"clients":[{"id":"site","key":"site-key","services":["*"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := limited(t, Config{RefuseDuplicates: true, AgentsFile: agents, Limits: Limits{
		PerAddress: ratelimit.Limit{Count: 1, Per: time.Hour, Burst: 1},
		PerNumber:  ratelimit.Limit{Count: 1, Per: time.Hour, Burst: 1},
	}})
	key := map[string]string{"Authorization": "Bearer site-key"}
	for i := range 5 {
		if a := create(t, env.Server.URL, map[string]any{"service": "support", "phone_number": number(i)}, key); a.code != http.StatusCreated {
			t.Fatalf("API client, request %d: %+v", i, a)
		}
	}
	if a := create(t, env.Server.URL, map[string]any{"service": "other", "phone_number": number(0)}, key); a.code != http.StatusTooManyRequests || a.limit != "phone_number" {
		t.Fatalf("API client, same number: %+v", a)
	}
	if a := create(t, env.Server.URL, map[string]any{"service": "support", "phone_number": number(50)}, nil); a.code != http.StatusCreated {
		t.Fatalf("visitor: %+v", a)
	}
	if a := create(t, env.Server.URL, map[string]any{"service": "support", "phone_number": number(51)}, nil); a.code != http.StatusTooManyRequests {
		t.Fatalf("visitor again: %+v", a)
	}
}

// The services file's rate_limit overrides the flag for its service.
func TestServiceRateLimitFromTheServicesFile(t *testing.T) {
	set, err := serviceconf.Parse([]byte("services:\n  support: {rate_limit: \"2/1m:2\"}\n  sales: {}\n"), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	env := limited(t, Config{ServiceSet: set, Limits: Limits{PerService: ratelimit.Limit{Count: 100, Per: time.Second, Burst: 100}}})
	for i := range 3 {
		want := http.StatusCreated
		if i == 2 {
			want = http.StatusTooManyRequests
		}
		if a := create(t, env.Server.URL, map[string]any{"service": "support", "phone_number": number(i)}, nil); a.code != want {
			t.Fatalf("support %d: %+v, want %d", i, a, want)
		}
		if a := create(t, env.Server.URL, map[string]any{"service": "sales", "phone_number": number(10 + i)}, nil); a.code != http.StatusCreated {
			t.Fatalf("sales %d: %+v", i, a)
		}
	}
}

// TestFloodFromOneAddress: many goroutines post as fast as they can from
// one address for 3 s of real time while the clock moves 30 s; exactly
// the burst and the tokens of those 30 s get through, not one more.
func TestFloodFromOneAddress(t *testing.T) {
	limit := ratelimit.Limit{Count: 10, Per: time.Minute, Burst: 5} // the default
	env := limited(t, Config{RefuseDuplicates: true, Limits: Limits{PerAddress: limit}})
	created, refused := flood(t, env, 32, 3*time.Second, 30*time.Second)
	want := limit.Burst + int(30*time.Second/(limit.Per/time.Duration(limit.Count)))
	if int(created) != want {
		t.Fatalf("%d created of %d requests, want exactly %d", created, created+refused, want)
	}
	if refused == 0 {
		t.Fatal("no request refused: not a flood")
	}
}

// flood posts from workers goroutines for real, advancing the fake clock
// by virtual in even steps meanwhile; then, the clock stopped, a last
// round so that every token the clock made is taken. It counts 201s and
// 429s, and fails on anything else.
func flood(t testing.TB, env *servicetest.Env, workers int, real, virtual time.Duration) (created, refused int64) {
	var (
		n    atomic.Int64
		stop atomic.Bool
		wg   sync.WaitGroup
		bad  atomic.Int64
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	one := func() {
		i := n.Add(1)
		body := `{"service":"support","phone_number":"+1415` + strconv.Itoa(2000000+int(i)) + `"}`
		res, err := client.Post(env.Server.URL+"/v1/callbacks", "application/json", bytes.NewReader([]byte(body)))
		if err != nil {
			bad.Add(1)
			return
		}
		res.Body.Close()
		switch res.StatusCode {
		case http.StatusCreated:
			atomic.AddInt64(&created, 1)
		case http.StatusTooManyRequests:
			atomic.AddInt64(&refused, 1)
		default:
			bad.Add(1)
		}
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				one()
			}
		}()
	}
	const steps = 100
	for range steps {
		time.Sleep(real / steps)
		env.Clock.Advance(virtual / steps)
	}
	stop.Store(true)
	wg.Wait()
	for range 3 {
		one()
	}
	if bad.Load() > 0 {
		t.Fatalf("%d requests neither 201 nor 429", bad.Load())
	}
	return created, refused
}

func TestShare(t *testing.T) {
	l := ratelimit.Limit{Count: 200, Per: time.Second, Burst: 400}
	for _, tc := range []struct {
		replicas int
		want     ratelimit.Limit
	}{
		{0, l}, {1, l},
		{2, ratelimit.Limit{Count: 200, Per: 2 * time.Second, Burst: 200}},
		{3, ratelimit.Limit{Count: 200, Per: 3 * time.Second, Burst: 134}},
		{1000, ratelimit.Limit{Count: 200, Per: 1000 * time.Second, Burst: 1}},
	} {
		if got := share(l, tc.replicas); got != tc.want {
			t.Errorf("share(%v, %d) = %v, want %v", l, tc.replicas, got, tc.want)
		}
	}
	if got := share(ratelimit.Limit{}, 4); !got.Off() {
		t.Errorf("share of off = %v", got)
	}
}
