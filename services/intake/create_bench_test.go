package intake

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
)

// BenchmarkCreate is POST /v1/callbacks from many clients at once, each
// for a number of its own, on the embedded store: what the duplicate check
// costs when nothing is a duplicate. Before the claim streams, a process
// mutex held across the append and the read model's catch-up serialised
// every create of the process.
// go test -run '^$' -bench 'Create(GMS)?$' -cpu 1,8,32 ./services/intake
func BenchmarkCreate(b *testing.B) {
	benchCreate(b, "/v1/callbacks", "application/json", http.StatusCreated, func(i int64) string {
		return fmt.Sprintf(`{"service":"support","phone_number":"+1415%03d%04d"}`, 200+i/10000%800, i%10000)
	})
}

// BenchmarkCreateGMS is BenchmarkCreate through the GMS-compatible API: a
// form-encoded POST /genesys/1/service/callback/support, as a site built
// for GMS sends it. Run beside BenchmarkCreate, the difference is the
// translation's (the store's work is the same: TestGMSCreateCostsWhatV1Costs).
func BenchmarkCreateGMS(b *testing.B) {
	benchCreate(b, "/genesys/1/service/callback/support", "application/x-www-form-urlencoded", http.StatusOK, func(i int64) string {
		return fmt.Sprintf("_customer_number=%%2B1415%03d%04d&order=A-17", 200+i/10000%800, i%10000)
	})
}

// benchCreate posts body(i) to path from parallel clients, each request a
// number of its own, and reports creates per second.
func benchCreate(b *testing.B, path, contentType string, want int, body func(i int64) string) {
	env := servicetest.New(b)
	s, err := New(Config{RefuseDuplicates: true}, Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
	if err != nil {
		b.Fatal(err)
	}
	env.Go(s.Run)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := client.Post(env.Server.URL+path, contentType, strings.NewReader(body(n.Add(1))))
			if err != nil {
				b.Error(err)
				return
			}
			res.Body.Close()
			if res.StatusCode != want {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}
