package intake

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ringback/ringback/libs/servicetest"
)

// BenchmarkCreate is POST /v1/callbacks from many clients at once, each
// for a number of its own, on the embedded store: what the duplicate check
// costs when nothing is a duplicate. Before the claim streams, a process
// mutex held across the append and the read model's catch-up serialised
// every create of the process.
// go test -run '^$' -bench Create -cpu 1,8,32 ./services/intake
func BenchmarkCreate(b *testing.B) {
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
			body := fmt.Sprintf(`{"service":"support","phone_number":"+1415%03d%04d"}`, 200+i/10000%800, i%10000)
			res, err := client.Post(env.Server.URL+"/v1/callbacks", "application/json", strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			res.Body.Close()
			if res.StatusCode != http.StatusCreated {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}
