package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"
)

// profileWindow is the length of each CPU profile taken while the measured
// calls run: the run's length is not known ahead, so it is profiled in
// windows until it ends, and the last one runs past it by less than this
// (an idle platform spends a few milliseconds a second).
const profileWindow = 5 * time.Second

// profiler takes the platform's CPU profile (its --debug-pprof) window
// after window until stopped, for cpuParts.
type profiler struct {
	addr string
	stop context.CancelFunc
	done chan struct{}
	mu   sync.Mutex
	got  []*profile.Profile
	err  error
}

// startProfiling profiles the platform serving /debug/pprof/ at addr.
func startProfiling(ctx context.Context, addr string) *profiler {
	ctx, stop := context.WithCancel(ctx)
	p := &profiler{addr: addr, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for ctx.Err() == nil {
			prof, err := p.window(context.WithoutCancel(ctx))
			p.mu.Lock()
			if err != nil {
				p.err = err
				p.mu.Unlock()
				return
			}
			p.got = append(p.got, prof)
			p.mu.Unlock()
		}
	}()
	return p
}

// window is one profile of profileWindow. It is not cut short when the
// profiler stops: a window cut short returns no profile at all.
func (p *profiler) window(ctx context.Context) (*profile.Profile, error) {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.addr, int(profileWindow/time.Second))
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cpu profile: %s", res.Status)
	}
	prof, err := profile.Parse(res.Body)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return prof, nil
}

// finish waits for the window under way and returns the windows merged.
func (p *profiler) finish() (*profile.Profile, error) {
	p.stop()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return nil, p.err
	}
	if len(p.got) == 0 {
		return nil, fmt.Errorf("cpu profile: no window completed")
	}
	return profile.Merge(p.got)
}

// part is where a CPU sample's time went.
type part struct {
	name  string
	share float64 // of all the samples
}

// cpuParts splits a CPU profile by part of the platform. A sample goes to
// the service whose code is nearest its leaf (a service's own work, and
// the libraries it called: its appends' encoding, its reads), else to the
// shared machinery it ran in: the store's writer (encoding, write and
// fdatasync of every service's appends, counted apart), the subscriptions
// that feed every read model, the relay, the bus, HTTP, SIP, the
// collector. fdatasync is also given on its own.
func cpuParts(prof *profile.Profile) (parts []part, fdatasync float64) {
	idx := -1
	for i, st := range prof.SampleType {
		if st.Type == "cpu" {
			idx = i
		}
	}
	if idx < 0 {
		return nil, 0
	}
	by := map[string]int64{}
	var total, syncs int64
	for _, s := range prof.Sample {
		v := s.Value[idx]
		total += v
		var funcs []string // leaf first
		for _, loc := range s.Location {
			for _, l := range loc.Line {
				if l.Function != nil {
					funcs = append(funcs, l.Function.Name)
				}
			}
		}
		if slices.ContainsFunc(funcs, func(f string) bool { return strings.HasSuffix(f, "Fdatasync") }) {
			syncs += v
		}
		by[partOf(funcs)] += v
	}
	if total == 0 {
		return nil, 0
	}
	for name, v := range by {
		parts = append(parts, part{name: name, share: float64(v) / float64(total)})
	}
	slices.SortFunc(parts, func(a, b part) int {
		switch {
		case a.share > b.share:
			return -1
		case a.share < b.share:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return parts, float64(syncs) / float64(total)
}

// machinery names the shared parts, by a function of theirs on the stack,
// tried in order, for samples in no service's code.
var machinery = []struct{ name, marks string }{
	{"store writer (appends, fdatasync)", "libs/eventstore/embedded.(*Store).run"},
	{"read models and subscriptions", "libs/readmodel."},
	{"read models and subscriptions", "SubscribeAll"},
	{"relay", "libs/relay."},
	{"bus (delivery, middleware)", "libs/inbox."},
	{"bus (delivery, middleware)", "libs/bus"},
	{"bus (delivery, middleware)", "ThreeDotsLabs/watermill"},
	{"HTTP", "net/http."},
	{"SIP", "emiago/"},
	{"garbage collector", "runtime.gcBgMarkWorker"},
}

// partOf is the part a stack (leaf first) belongs to.
func partOf(funcs []string) string {
	for _, f := range funcs {
		if _, rest, ok := strings.Cut(f, "/ringback/services/"); ok {
			if i := strings.IndexAny(rest, "./"); i > 0 {
				return rest[:i]
			}
			return rest
		}
	}
	for _, m := range machinery {
		for _, f := range funcs {
			if strings.Contains(f, m.marks) {
				return m.name
			}
		}
	}
	return "runtime and the rest (scheduler, timers, syscalls)"
}

// printCPUParts writes the line of cpuParts, each part in ms per callback
// of perMS, the platform's CPU per callback.
func printCPUParts(prof *profile.Profile, perMS float64) {
	parts, syncs := cpuParts(prof)
	if len(parts) == 0 {
		fmt.Println("  CPU by part: the profile holds no CPU samples")
		return
	}
	var by []string
	for _, p := range parts {
		by = append(by, fmt.Sprintf("%s %.1f (%.0f%%)", p.name, p.share*perMS, 100*p.share))
	}
	fmt.Printf("  CPU by part, ms per callback (a profile of the measured calls): %s; of all of it, fdatasync %.1f (%.0f%%)\n",
		strings.Join(by, ", "), syncs*perMS, 100*syncs)
}

// keepProfile writes prof to dir/cpu.pprof when dir is set (RINGBACK_BENCH_KEEP).
func keepProfile(dir string, prof *profile.Profile) {
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, "cpu.pprof"))
	if err == nil {
		err = errors.Join(prof.Write(f), f.Close())
	}
	if err != nil {
		fmt.Printf("  CPU profile not kept: %v\n", err)
		return
	}
	fmt.Printf("  CPU profile kept: %s\n", f.Name())
}
