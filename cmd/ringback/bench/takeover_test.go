package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/bus/kafka/kafkatest"
	"github.com/ringback/ringback/libs/childproc"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/postgres"
	"github.com/ringback/ringback/libs/eventstore/postgres/pgtest"
)

// BenchmarkRouterTakeover measures how long the router's dispatcher is
// leaderless after kill -9 of the leader: two router processes on one
// PostgreSQL store and a Kafka broker; the leader is killed (and a new
// standby started) RINGBACK_BENCH_KILLS times (default 10), and the time
// from the kill to the other's holding the dispatcher lease is taken.
// Baseline in the same run: the takeover after a clean stop (SIGTERM: the
// leader releases the lease). Target p99 < 5 s with the default 3 s lease.
func BenchmarkRouterTakeover(b *testing.B) {
	kills := 10
	if v := os.Getenv("RINGBACK_BENCH_KILLS"); v != "" {
		if _, err := fmt.Sscan(v, &kills); err != nil || kills < 1 {
			b.Fatalf("RINGBACK_BENCH_KILLS=%q", v)
		}
	}
	ctx := context.Background()
	bin, err := binaryPath(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	db := pgtest.Database(b)
	brokers := strings.Join(kafkatest.StartBroker(b), ",")
	st, err := postgres.Open(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	n := 0
	start := func() *exec.Cmd {
		n++
		httpAddr, err := freePort("tcp")
		if err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", "--target", "router", "--bus", "kafka", "--kafka-brokers", brokers,
			"--eventstore", db, "--http", httpAddr, "--data", filepath.Join(b.TempDir(), "data"),
			"--router.instance-id", fmt.Sprintf("router-%d", n), "--log-level", "warn")
		childproc.DieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if res, err := http.Get("http://" + httpAddr + "/readyz"); err == nil {
				res.Body.Close()
				if res.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				b.Fatal("router not ready within 30s")
			}
		}
		return cmd
	}
	procs := map[string]*exec.Cmd{}
	for range 2 {
		c := start()
		procs[fmt.Sprintf("router-%d", n)] = c
	}
	leaderNow := func() eventstore.Lease {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if l, ok, now, err := st.ReadLease(ctx, "router-dispatcher"); err == nil && ok && now.Before(l.Expires) {
				return l
			}
		}
		b.Fatal("no router holds the dispatcher lease")
		return eventstore.Lease{}
	}
	// measure stops the leader (kill -9 or SIGTERM) and times the takeover.
	measure := func(kill bool) time.Duration {
		l := leaderNow()
		cmd := procs[l.Holder]
		began := time.Now()
		if kill {
			_ = cmd.Process.Kill()
		} else {
			_ = cmd.Process.Signal(os.Interrupt)
		}
		var took time.Duration
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if cur, ok, _, err := st.ReadLease(ctx, "router-dispatcher"); err == nil && ok && cur.Generation != l.Generation {
				took = time.Since(began)
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("no takeover within 30s")
			}
		}
		_ = cmd.Wait()
		delete(procs, l.Holder)
		c := start() // a new standby, as Kubernetes would start
		procs[fmt.Sprintf("router-%d", n)] = c
		return took
	}
	b.ResetTimer()
	var killed, clean []time.Duration
	for range b.N {
		killed, clean = killed[:0], clean[:0]
		for range kills {
			killed = append(killed, measure(true))
		}
		for range 3 {
			clean = append(clean, measure(false))
		}
	}
	b.StopTimer()
	slices.Sort(killed)
	slices.Sort(clean)
	p := func(ds []time.Duration, q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	b.ReportMetric(p(killed, 0.99).Seconds(), "takeover-p99-s")
	fmt.Printf("\nrouter takeover: after kill -9 of the leader p50 %v, p99 %v over %d kills (target p99 < 5s, lease 3s), "+
		"beside a clean stop (lease released) p50 %v\n", p(killed, 0.5).Round(time.Millisecond), p(killed, 0.99).Round(time.Millisecond),
		len(killed), p(clean, 0.5).Round(time.Millisecond))
}
