package intake

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringback/ringback/libs/clock"
	"github.com/ringback/ringback/libs/ratelimit"
	"github.com/ringback/ringback/libs/service"
)

// BenchmarkRateLimiter is what the three rate limits cost a request:
// admitAddress and admitRate (client address from X-Forwarded-For through a trusted proxy,
// then the address's, the number's and the service's buckets, among
// 10,000 addresses and numbers, every request allowed) inside a handler
// that decodes the create's body and answers, beside the same handler
// without it. Prints "abuse: rate limiter ..." for make bench.
func BenchmarkRateLimiter(b *testing.B) {
	never := ratelimit.Limit{Count: 1_000_000_000, Per: time.Second, Burst: 1_000_000_000}
	s, err := New(Config{Limits: Limits{PerAddress: never, PerNumber: never, PerService: never, Replicas: 2,
		TrustedProxies: "10.0.0.0/8"}}, Deps{Deps: service.Deps{Clock: clock.Real{}, Log: slog.New(slog.DiscardHandler), Metrics: prometheus.NewRegistry(), Mux: http.NewServeMux()}})
	if err != nil {
		b.Fatal(err)
	}
	const keys = 10_000
	reqs, bodies := make([]*http.Request, keys), make([][]byte, keys)
	for i := range reqs {
		bodies[i] = fmt.Appendf(nil, `{"service":"support","phone_number":"+1415%07d"}`, i)
		r := httptest.NewRequest("POST", "/v1/callbacks", nil)
		r.RemoteAddr = "10.1.2.3:40000"
		r.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.%d.%d", i>>8, i&255))
		reqs[i] = r
	}
	handler := func(limit bool) func(w http.ResponseWriter, r *http.Request, body []byte) {
		return func(w http.ResponseWriter, r *http.Request, body []byte) {
			var req createRequest
			if err := json.Unmarshal(body, &req); err != nil {
				b.Fatal(err)
			}
			if limit {
				if err := s.admitAddress(r); err != nil {
					b.Fatal(err)
				}
				if err := s.admitRate(req.Service, req.PhoneNumber); err != nil {
					b.Fatal(err)
				}
			}
			w.WriteHeader(http.StatusNoContent)
		}
	}
	ns := map[string]float64{}
	for _, mode := range []string{"bare", "limited"} {
		h := handler(mode == "limited")
		b.Run(mode, func(b *testing.B) {
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				w := &discardWriter{h: http.Header{}}
				for pb.Next() {
					i := int(n.Add(1)) % keys
					h(w, reqs[i], bodies[i])
				}
			})
			ns[mode] = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		})
	}
	if ns["bare"] > 0 && ns["limited"] > 0 {
		fmt.Printf("abuse: rate limiter %.0f ns/request (address, number and service buckets) beside the bare handler's %.0f ns (decode and answer): the handler with it %.0f ns\n",
			ns["limited"]-ns["bare"], ns["bare"], ns["limited"])
	}
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
