package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// personalTarget is issue 16's bound on sealing personal data: less than
// 10 % more CPU per callback than the same path in clear.
const personalTarget = 0.10

// BenchmarkPersonalData is the CPU per callback of the platform (request to
// Done, the thin path's workload, each callback a new contact, so a new
// key) with personal data sealed (the default) beside the same with
// --personal.keys=off, in alternating rounds so that a machine busy with
// other work weighs on both alike. Use -benchtime 1x; RINGBACK_BENCH_CALLS
// is the callbacks per mode (200).
func BenchmarkPersonalData(b *testing.B) {
	o, err := parseOptions()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := b.TempDir()
	bin, err := binaryPath(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	phones, err := startUA(ctx, "bench-phones")
	if err != nil {
		b.Fatal(err)
	}
	defer phones.close()
	const rounds = 4
	type total struct {
		cpu   float64
		calls int
	}
	modes := map[string][]string{"clear": {"--personal.keys", "off"}, "sealed": nil}
	totals := map[string]*total{"clear": {}, "sealed": {}}
	for round := range rounds {
		order := []string{"clear", "sealed"}
		if round%2 == 1 {
			order = []string{"sealed", "clear"}
		}
		for _, mode := range order {
			pdir := filepath.Join(dir, fmt.Sprintf("%s-%d", mode, round))
			if err := os.Mkdir(pdir, 0o755); err != nil {
				b.Fatal(err)
			}
			p, err := startPlatform(ctx, bin, pdir, phones.Addr, modes[mode]...)
			if err != nil {
				b.Fatal(err)
			}
			ro := o
			ro.calls = max(o.calls/rounds, 1)
			runs, used, err := thinPath(ctx, p, phones, ro)
			if serr := p.stop(); err == nil {
				err = serr
			}
			http.DefaultClient.CloseIdleConnections()
			if err != nil {
				b.Fatalf("%s, round %d: %v", mode, round+1, err)
			}
			totals[mode].cpu += used.cpuSeconds
			totals[mode].calls += len(runs)
		}
	}
	clear, sealed := 1000*totals["clear"].cpu/float64(totals["clear"].calls), 1000*totals["sealed"].cpu/float64(totals["sealed"].calls)
	more := sealed/clear - 1
	b.ReportMetric(100*more, "%-more-cpu")
	fmt.Printf("personal data sealed (%d callbacks per mode, request to Done, a new contact each): CPU per callback %.2f ms sealed, "+
		"%.2f ms in clear: %+.1f %% (target < %.0f %%: %s)\n", totals["sealed"].calls, sealed, clear, 100*more,
		100*personalTarget, verdict(more < personalTarget))
}
