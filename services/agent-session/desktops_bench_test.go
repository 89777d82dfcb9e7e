package agentsession

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/service"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/servicetest"
	"github.com/ringback/ringback/services/agent-session/agent"
)

// Environment of the desktop-clients helper process.
const (
	envDesktopsURL   = "RINGBACK_BENCH_DESKTOPS_URL"
	envDesktopsCount = "RINGBACK_BENCH_DESKTOPS"
)

// BenchmarkDesktops is issue 10's figure: agent-session with 10,000
// logged-in agents and 2,000 desktops connected to their event streams on
// the service's one store subscription, beside the same with no desktop
// connected (the baseline), in the same run. Each phase changes every
// agent's state three times through the service's command path (30,000
// events, 6,000 of them pushed to a connected desktop); it measures the
// process's CPU (user+system) for the phase (the cheapest of three runs), and heap and stacks once the
// desktops are connected. The desktops are a separate process (this test
// binary again), so neither their memory nor their CPU is counted.
//
//	go test -run '^$' -bench Desktops -benchtime 1x ./services/agent-session/
func BenchmarkDesktops(b *testing.B) {
	const agents, desktops, rounds = 10000, 2000, 3
	env := servicetest.New(b)
	st := &countingStore{Store: env.Store}
	s, err := New(Config{CommandWait: time.Second}, Deps{Deps: service.Deps{Store: st, Subscribers: env.Subscribers(), Clock: env.Clock,
		Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
	if err != nil {
		b.Fatal(err)
	}
	env.Go(s.Run)
	ctx := b.Context()
	ids := make([]string, agents)
	for i := range ids {
		ids[i] = fmt.Sprintf("agent-%05d", i)
	}
	last := forEach(b, ids, func(id string) (eventstore.Position, error) {
		out, err := s.onAgent(ctx, id, eventstore.Cause{ID: uuid.NewString()}, agent.Login{Agent: id,
			PhoneURI: "sip:" + id + "@10.0.0.1:5060", Skills: map[string]int32{"billing": 5}, At: env.Clock.Now()})
		return out.Position, err
	})
	if err := s.proj.WaitFor(ctx, last); err != nil {
		b.Fatal(err)
	}
	round := 0
	// phase changes every agent's state rounds times through the command
	// path and waits until the view holds it all.
	phase := func() {
		var last eventstore.Position
		for range rounds {
			state := agent.Ready
			if round%2 == 1 {
				state = agent.NotReady
			}
			round++
			last = forEach(b, ids, func(id string) (eventstore.Position, error) {
				out, err := s.onAgent(ctx, id, eventstore.Cause{ID: uuid.NewString()}, agent.SetState{Agent: id,
					Channel: agent.WebCallback, State: state, At: env.Clock.Now()})
				return out.Position, err
			})
		}
		if err := s.proj.WaitFor(ctx, last); err != nil {
			b.Fatal(err)
		}
	}

	// measure runs the phase three times and keeps the cheapest run: a
	// phase is a second or two on a machine that may have other work.
	measure := func(after func()) (cpu, wall time.Duration) {
		for k := range 3 {
			began, cpu0 := time.Now(), cpuTime(b)
			phase()
			if after != nil {
				after()
			}
			c, w := cpuTime(b)-cpu0, time.Since(began)
			if k == 0 || c < cpu {
				cpu, wall = c, w
			}
		}
		return cpu, wall
	}

	b.ResetTimer()
	for range b.N {
		// Baseline: nobody connected.
		baseCPU, baseWall := measure(nil)
		heap0, stack0 := memory()
		g0 := runtime.NumGoroutine()

		// The desktops connect; then the same work again.
		cl := startDesktops(b, env.Server.URL, desktops)
		heap1, stack1 := memory()
		g1 := runtime.NumGoroutine()
		var lag time.Duration
		cpu, wall := measure(func() {
			folded := time.Now()
			cl.await(b, rounds)
			lag = max(lag, time.Since(folded))
		})
		heap2, stack2 := memory()
		cl.stop(b)

		events := float64(agents * rounds)
		pushed := float64(desktops * rounds)
		perDesktop := float64(int64(heap1+stack1)-int64(heap0+stack0)) / desktops / 1024
		b.ReportMetric(mib(heap0+stack0), "baseline-MiB")
		b.ReportMetric(mib(heap2+stack2), "MiB")
		b.ReportMetric(perDesktop, "KiB/desktop")
		b.ReportMetric(baseCPU.Seconds()*1e6/events, "baseline-cpu-µs/event")
		b.ReportMetric(cpu.Seconds()*1e6/events, "cpu-µs/event")
		b.ReportMetric(float64(st.subscriptions.Load()), "store-subscriptions")
		fmt.Printf("agent-session desktops: %d agents, %d state changes per phase, %d pushed when %d desktops are connected\n",
			agents, int(events), int(pushed), desktops)
		fmt.Printf("  0 desktops (baseline):   heap %5.1f MiB + stacks %4.1f MiB, %4d goroutines, CPU %.2f s (%.1f µs/event) in %.2f s\n",
			mib(heap0), mib(stack0), g0, baseCPU.Seconds(), baseCPU.Seconds()*1e6/events, baseWall.Seconds())
		fmt.Printf("  %d desktops connected: heap %5.1f MiB + stacks %4.1f MiB, %4d goroutines, CPU %.2f s (%.1f µs/event) in %.2f s; "+
			"+%.1f KiB per desktop, %+.1f µs CPU per push (the phases' difference: noise if near 0); every desktop had the last event %v after the view\n",
			desktops, mib(heap2), mib(stack2), g1, cpu.Seconds(), cpu.Seconds()*1e6/events, wall.Seconds(),
			perDesktop, (cpu-baseCPU).Seconds()*1e6/pushed, lag.Round(100*time.Microsecond))
		fmt.Printf("  store subscriptions: %d for the service, whatever the desktops; resyncs of slow desktops: %d\n",
			st.subscriptions.Load(), int(counted(s.resyncs)))
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// memory is the live heap and the goroutine stacks, after collecting.
func memory() (heap, stacks uint64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.StackInuse
}

// cpuTime is the CPU (user and system) this process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// forEach runs fn for every id on 32 writers (a busy site's many agents
// at once) and returns the latest position written.
func forEach(b *testing.B, ids []string, fn func(string) (eventstore.Position, error)) eventstore.Position {
	var (
		mu   sync.Mutex
		last eventstore.Position
		next atomic.Int64
		wg   sync.WaitGroup
		fail atomic.Value
	)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(ids); i = int(next.Add(1)) - 1 {
				pos, err := fn(ids[i])
				if err != nil {
					fail.Store(err)
					return
				}
				mu.Lock()
				if last.Less(pos) {
					last = pos
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err, _ := fail.Load().(error); err != nil {
		b.Fatal(err)
	}
	return last
}

// desktops is the helper process holding the desktops' connections.
type desktops struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startDesktops(b *testing.B, url string, n int) *desktops {
	cmd := exec.Command(os.Args[0], "-test.run=^TestDesktopClients$", "-test.count=1")
	cmd.Env = append(os.Environ(), envDesktopsURL+"="+url, envDesktopsCount+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	d := &desktops{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	d.expect(b, "connected")
	return d
}

func (d *desktops) expect(b *testing.B, word string) {
	for d.out.Scan() {
		if strings.HasPrefix(d.out.Text(), word) {
			return
		}
	}
	b.Fatalf("desktops helper ended before %q: %v", word, d.out.Err())
}

// await waits until every desktop received n pushes after its snapshot.
func (d *desktops) await(b *testing.B, n int) {
	if _, err := fmt.Fprintf(d.in, "%d\n", n); err != nil {
		b.Fatal(err)
	}
	d.expect(b, "done")
}

func (d *desktops) stop(b *testing.B) {
	_ = d.in.Close()
	if err := d.cmd.Wait(); err != nil {
		b.Fatalf("desktops helper: %v", err)
	}
}

// TestDesktopClients is BenchmarkDesktops' helper process, not a test: it
// holds the desktops' event streams, says "connected" once each has its
// snapshot, then for each number n read from stdin says "done" once each
// has n more pushes. It ends at end of input.
func TestDesktopClients(t *testing.T) {
	url := os.Getenv(envDesktopsURL)
	if url == "" {
		t.Skip("helper process of BenchmarkDesktops")
	}
	n, err := strconv.Atoi(os.Getenv(envDesktopsCount))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := &http.Transport{MaxIdleConnsPerHost: n}
	counts := make([]atomic.Int64, n)
	var connected sync.WaitGroup
	for i := range n {
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/v1/agents/agent-%05d/events", url, i), nil)
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		connected.Add(1)
		go func() {
			defer res.Body.Close()
			sc := bufio.NewScanner(res.Body)
			first := true
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "event: ") {
					if first {
						first = false
						connected.Done()
						continue
					}
					counts[i].Add(1)
				}
			}
		}()
	}
	connected.Wait()
	fmt.Println("connected")
	in := bufio.NewScanner(os.Stdin)
	total := int64(0)
	for in.Scan() {
		more, err := strconv.Atoi(in.Text())
		if err != nil {
			t.Fatal(err)
		}
		total += int64(more)
		for i := range counts {
			for counts[i].Load() < total {
				time.Sleep(time.Millisecond)
			}
		}
		fmt.Println("done")
	}
}
