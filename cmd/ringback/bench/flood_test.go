package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// floodLimit is the binary's default per-address limit (intake
// DefaultPerAddress), given as a flag so that the bench says what it tests
// (the harness turns the limits off by default).
const (
	floodLimit    = "10/1m:5"
	floodBurst    = 5
	floodInterval = 6 * time.Second // a token every 6 s
)

// BenchmarkFlood is issue 12's flood: for RINGBACK_BENCH_FLOOD (30s), 64
// clients post callbacks as fast as they can from one address (each for a
// number of its own, so that only the address's limit bites) to the real
// binary on the embedded store, while one more client times GET /healthz
// every 10 ms. It reports how many creates got through, beside what the
// limit allows over that time (its burst plus a token per interval), and
// /healthz p99 during the flood beside /healthz p99 on the same binary for
// 10 s with no flood. Use -benchtime 1x.
func BenchmarkFlood(b *testing.B) {
	length := 30 * time.Second
	if v := os.Getenv("RINGBACK_BENCH_FLOOD"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			b.Fatalf("RINGBACK_BENCH_FLOOD=%q: want a duration", v)
		}
		length = d
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := b.TempDir()
	bin, err := binaryPath(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	trunk, err := freePort("udp")
	if err != nil {
		b.Fatal(err)
	}
	p, err := startPlatform(ctx, bin, dir, trunk, "--intake.rate-address", floodLimit)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := p.stop(); err != nil {
			b.Error(err)
		}
	}()

	calm := healthP99(ctx, p.URL, 10*time.Second, nil)

	var (
		created, refused, other atomic.Int64
		n                       atomic.Int64
		firstSent, lastSent     atomic.Int64 // unix ns: the flood's window as the bucket sees it
		wg                      sync.WaitGroup
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	floodCtx, stop := context.WithTimeout(ctx, length)
	defer stop()
	start := time.Now()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for floodCtx.Err() == nil {
				i := n.Add(1)
				body := fmt.Sprintf(`{"service":"support","phone_number":"+1415%07d"}`, 2_000_000+i)
				req, _ := http.NewRequestWithContext(floodCtx, "POST", p.URL+"/v1/callbacks", strings.NewReader(body))
				sent := time.Now().UnixNano()
				firstSent.CompareAndSwap(0, sent)
				req.Header.Set("Content-Type", "application/json")
				res, err := client.Do(req)
				if err != nil {
					if floodCtx.Err() == nil {
						other.Add(1)
					}
					continue
				}
				res.Body.Close()
				for l := lastSent.Load(); sent > l && !lastSent.CompareAndSwap(l, sent); l = lastSent.Load() {
				}
				switch res.StatusCode {
				case http.StatusCreated:
					created.Add(1)
				case http.StatusTooManyRequests:
					refused.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	busy := healthP99(floodCtx, p.URL, length, nil)
	wg.Wait()
	elapsed := time.Since(start)
	client.CloseIdleConnections()
	// The limit allows the burst at once, then a token per interval: from
	// the first request sent (the bucket is made full) to the last one
	// answered, burst + window/interval.
	window := time.Duration(lastSent.Load() - firstSent.Load())
	allowed := floodBurst + int(window/floodInterval)
	b.ReportMetric(float64(created.Load()), "accepted")
	b.ReportMetric(float64(allowed), "allowed")
	b.ReportMetric(ms(busy), "healthz-p99-flood-ms")
	b.ReportMetric(ms(calm), "healthz-p99-calm-ms")
	verdict := "the limit, nothing more"
	if int(created.Load()) > allowed {
		verdict = "MORE than the limit"
	} else if int(created.Load()) < allowed-1 {
		verdict = "fewer than the limit"
	}
	total := created.Load() + refused.Load() + other.Load()
	fmt.Printf("abuse: flood from one address, 64 clients, %s: %d of %d creates accepted (%.0f requests/s), the limit (%s) allows %d: %s; %d refused 429, %d other\n",
		elapsed.Round(time.Second), created.Load(), total, float64(total)/elapsed.Seconds(), floodLimit, allowed, verdict, refused.Load(), other.Load())
	fmt.Printf("abuse: /healthz p99 %.2f ms during the flood beside %.2f ms with none (same binary, 10 s)\n", ms(busy), ms(calm))
	if other.Load() > 0 {
		b.Errorf("%d answers neither 201 nor 429:\n%s", other.Load(), p.tail())
	}
}

// healthP99 times GET /healthz every 10 ms for d (or until ctx ends).
func healthP99(ctx context.Context, base string, d time.Duration, _ *int) time.Duration {
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	var lat []time.Duration
	end := time.Now().Add(d)
	for time.Now().Before(end) && ctx.Err() == nil {
		t0 := time.Now()
		res, err := client.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
			lat = append(lat, time.Since(t0))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return lat[len(lat)*99/100]
}
