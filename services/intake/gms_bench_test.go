package intake

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ringback/ringback/libs/servicetest"
)

// BenchmarkCreateGMS is BenchmarkCreate through the GMS-compatible API: a
// form-encoded POST /genesys/1/service/callback/support, each client for a
// number of its own, as a site built for GMS sends it. Run beside
// BenchmarkCreate, the difference is the translation's (the store's work is
// the same: TestGMSCreateCostsWhatV1Costs).
// go test -run '^$' -bench 'Create(GMS)?$' -cpu 1,8,32 ./services/intake
func BenchmarkCreateGMS(b *testing.B) {
	env := servicetest.New(b)
	s, err := New(Config{RefuseDuplicates: true}, Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock,
		Log: env.Log, Metrics: env.Registry, Mux: env.Mux})
	if err != nil {
		b.Fatal(err)
	}
	env.Go(s.Run)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Sprintf("_customer_number=%%2B1415%03d%04d&order=A-17", 200+i/10000%800, i%10000)
			res, err := client.Post(env.Server.URL+"/genesys/1/service/callback/support", "application/x-www-form-urlencoded", strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}
