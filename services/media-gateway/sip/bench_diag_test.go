package sip_test

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"time"
)

// cpuTime is the process's user and system CPU time from /proc/self/stat
// (Linux, 100 ticks/s), or -1.
func cpuTime() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return -1
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 12th and 13th.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(u+s) * 10 * time.Millisecond
}

// profileWindow starts a CPU profile (and a trace for its first 2 s when
// BRIDGE_TRACE is set) written to name.cpu (name.trace); stop ends them.
func profileWindow(name string) (stop func()) {
	f, err := os.Create(name + ".cpu")
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		panic(err)
	}
	var tf *os.File
	if os.Getenv("BRIDGE_TRACE") != "" {
		if tf, err = os.Create(name + ".trace"); err != nil {
			panic(err)
		}
		if err := trace.Start(tf); err != nil {
			panic(err)
		}
		time.AfterFunc(2*time.Second, func() { trace.Stop(); tf.Close() })
	}
	writeHeap := func(suffix string) {
		if hf, err := os.Create(name + suffix); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(hf, 0)
			hf.Close()
		}
	}
	writeHeap(".allocs0") // pprof -diff_base name.allocs0 name.allocs1: the window's
	runtime.SetMutexProfileFraction(100)
	runtime.SetBlockProfileRate(int(100 * time.Microsecond))
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		writeHeap(".allocs1")
		for _, p := range []string{"mutex", "block"} {
			if pf, err := os.Create(name + "." + p); err == nil {
				_ = pprof.Lookup(p).WriteTo(pf, 0)
				pf.Close()
			}
		}
		runtime.SetMutexProfileFraction(0)
		runtime.SetBlockProfileRate(0)
	}
}

// runtimeStats are the process's runtime counters the benchmark prints.
type runtimeStats struct {
	allocs, gcCycles, liveHeap, stacks uint64 // allocs, cycles: so far
	gcSeconds                          float64
	sched                              *metrics.Float64Histogram // goroutines' waits for a CPU, so far
}

// schedP99Since is the p99 of how long goroutines that became runnable
// after earlier waited for a CPU: high while CPU use is low says the
// work comes in bursts (or something stops the world).
func (r runtimeStats) schedP99Since(earlier runtimeStats) time.Duration {
	if r.sched == nil || earlier.sched == nil || len(r.sched.Counts) != len(earlier.sched.Counts) {
		return -1
	}
	var total uint64
	counts := make([]uint64, len(r.sched.Counts))
	for i := range counts {
		counts[i] = r.sched.Counts[i] - earlier.sched.Counts[i]
		total += counts[i]
	}
	if total == 0 {
		return 0
	}
	var seen uint64
	for i, c := range counts {
		if seen += c; float64(seen) >= 0.99*float64(total) {
			return time.Duration(r.sched.Buckets[i+1] * float64(time.Second))
		}
	}
	return -1
}

func readRuntime() runtimeStats {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}, {Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	return runtimeStats{allocs: s[0].Value.Uint64(), gcSeconds: s[1].Value.Float64(), gcCycles: s[2].Value.Uint64(),
		liveHeap: s[3].Value.Uint64(), stacks: s[4].Value.Uint64(), sched: s[5].Value.Float64Histogram()}
}

// machineTime is the CPU time all processes used (user, nice, system,
// irq, softirq) and the time stolen by the hypervisor, from /proc/stat
// (100 ticks/s), or -1.
func machineTime() (busy, steal time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1, -1
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return -1, -1
	}
	var v [8]int64
	for i := range v {
		if v[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return -1, -1
		}
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * 10 * time.Millisecond }
	// user nice system idle iowait irq softirq steal
	return tick(v[0] + v[1] + v[2] + v[5] + v[6]), tick(v[7])
}

// machineStalls spins one locked thread for d, on a machine otherwise
// idle, and counts the times it was stopped for over a millisecond: what
// the hypervisor (or another tenant) takes from a virtual CPU. Such a stop
// delays every frame in flight on that CPU, so it is a floor under every
// jitter figure of the run, whatever the gateway does.
func machineStalls(d time.Duration) string {
	done := make(chan string)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var stalls []time.Duration
		prev := time.Now()
		for end := prev.Add(d); prev.Before(end); {
			now := time.Now()
			if g := now.Sub(prev); g > time.Millisecond {
				stalls = append(stalls, g)
			}
			prev = now
		}
		longest := time.Duration(0)
		for _, s := range stalls {
			longest = max(longest, s)
		}
		done <- fmt.Sprintf("a thread spinning alone for %v before the steps was stopped %d times for over 1 ms (longest %.1f ms): "+
			"the machine's own stalls, under every jitter figure here", d, len(stalls), ms(longest))
	}()
	return <-done
}
