package personal

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDirPut is the directory key store's put (a new contact's key, a
// new callback's link: each a file written, synced and named, then its
// directory synced) from 32 writers at once: CPU and time per put with an
// unnamed file (O_TMPFILE, Linux) beside a named temporary file, in turns.
// go test -run '^$' -bench DirPut -benchtime 3000x ./personal/
func BenchmarkDirPut(b *testing.B) {
	type figure struct{ cpu, wall time.Duration }
	runs := make([]figure, 4) // the last run of each sub-benchmark, whatever its N
	modes := []string{"tmpfile", "temp", "tmpfile", "temp"}
	for r, mode := range modes {
		b.Run(mode, func(b *testing.B) {
			noTmpfile.Store(mode == "temp")
			defer noTmpfile.Store(false)
			d, err := OpenDir(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			c0, t0 := processCPU(), time.Now()
			b.SetParallelism(16) // × GOMAXPROCS writers
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					if _, err := d.PutIfAbsent(context.Background(), "links", fmt.Sprint(i), []byte("0123456789abcdef0123456789abcdef")); err != nil {
						b.Error(err)
						return
					}
				}
			})
			cpu := (processCPU() - c0) / time.Duration(b.N)
			b.ReportMetric(float64(cpu.Microseconds()), "cpu-us/put")
			runs[r] = figure{cpu, time.Since(t0) / time.Duration(b.N)}
		})
	}
	got := map[string]*figure{"tmpfile": {}, "temp": {}}
	for r, f := range runs {
		got[modes[r]].cpu += f.cpu / 2
		got[modes[r]].wall += f.wall / 2
	}
	if got["temp"].cpu > 0 {
		fmt.Printf("personal key store (dir): put %.0f µs CPU, %.0f µs each at 32 at once with an unnamed file; "+
			"baseline, a named temporary file: %.0f µs CPU, %.0f µs\n", float64(got["tmpfile"].cpu.Microseconds()),
			float64(got["tmpfile"].wall.Microseconds()), float64(got["temp"].cpu.Microseconds()), float64(got["temp"].wall.Microseconds()))
	}
}
