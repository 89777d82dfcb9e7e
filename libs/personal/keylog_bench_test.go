package personal

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkKeyStorePut is what a new callback of a new contact asks of the
// key store (its key made, its link put: two puts, side by side as seal
// does) from 64 callers at once, on the key log beside the directory
// adapter (a file each), in turns: CPU and time per callback.
// go test -run '^$' -bench KeyStorePut -benchtime 2000x ./personal/
func BenchmarkKeyStorePut(b *testing.B) {
	type figure struct{ cpu, wall time.Duration }
	runs := make([]figure, 4)
	modes := []string{"log", "dir", "log", "dir"}
	for r, mode := range modes {
		b.Run(mode, func(b *testing.B) {
			var blobs Blobs
			if mode == "log" {
				l, err := OpenKeyLog(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				blobs = l
			} else {
				d, err := OpenDir(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				blobs = d
			}
			ks, err := NewWrapped(blobs, make([]byte, 32))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var n atomic.Int64
			c0, t0 := processCPU(), time.Now()
			b.SetParallelism(32) // × GOMAXPROCS callers
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					linked := make(chan error, 1)
					go func() { linked <- ks.Link(ctx, fmt.Sprint("cb", i), fmt.Sprint("id", i)) }()
					_, err := ks.Key(ctx, fmt.Sprint("id", i), true)
					if lerr := <-linked; err == nil {
						err = lerr
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			runs[r] = figure{(processCPU() - c0) / time.Duration(b.N), time.Since(t0) / time.Duration(b.N)}
			b.ReportMetric(float64(runs[r].cpu.Microseconds()), "cpu-us/callback")
		})
	}
	got := map[string]*figure{"log": {}, "dir": {}}
	for r, f := range runs {
		got[modes[r]].cpu += f.cpu / 2
		got[modes[r]].wall += f.wall / 2
	}
	if got["dir"].cpu > 0 {
		fmt.Printf("personal key store, a new contact's key and link at 64 at once: log %.0f µs CPU, %.0f µs each; "+
			"baseline, a file each (dir): %.0f µs CPU, %.0f µs\n", float64(got["log"].cpu.Microseconds()),
			float64(got["log"].wall.Microseconds()), float64(got["dir"].cpu.Microseconds()), float64(got["dir"].wall.Microseconds()))
	}
}
