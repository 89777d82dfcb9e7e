package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/childproc"
)

// Issue 12's figure: "callbacks accepted durably per second through the
// public API on 2 cores for 60 s with many clients (target ≥ 5,000/s, p99
// < 25 ms; baseline: the same client against a handler that only decodes
// and answers), and the same through the GMS endpoint".
const (
	intakeTargetRate = 5000
	intakeTargetP99  = 25 * time.Millisecond
)

// intakeVariant is one way in: how the i-th request is built. Each request
// is for a number of its own (number), so none is a duplicate.
type intakeVariant struct {
	name        string
	path        string
	contentType string
	body        func(number string) string
	// created is the status of a callback accepted: 201 on our API, 200
	// on GMS's (as Genesys answers).
	created int
}

var intakeVariants = []intakeVariant{
	{name: "API", path: "/v1/callbacks", contentType: "application/json", created: http.StatusCreated,
		body: func(n string) string { return `{"service":"support","phone_number":"` + n + `"}` }},
	{name: "GMS", path: "/genesys/1/service/callback/support", contentType: "application/x-www-form-urlencoded", created: http.StatusOK,
		body: func(n string) string { return "_customer_number=" + url.QueryEscape(n) }},
}

// errNotServed: the platform answers 404 to every request of a variant.
var errNotServed = errors.New("not served")

// number is the i-th distinct number: valid, US, 8 million of them.
func number(i int64) string {
	return fmt.Sprintf("+1415%03d%04d", 200+i/10000%800, i%10000)
}

// intakeOptions, from the environment:
//
//	RINGBACK_BENCH_INTAKE_SECONDS  measured load per variant (60)
//	RINGBACK_BENCH_INTAKE_CLIENTS  concurrent keep-alive clients (64)
//	RINGBACK_BENCH_INTAKE_VARIANTS comma list of variants (API,GMS)
//	RINGBACK_BENCH_INTAKE_SHAPES   comma list of the platform's shapes
//	                               (all,alone: intakeShapes)
//	RINGBACK_BENCH_INTAKE_OPEN_RATE requests per second the open loop
//	                               offers (5000; 0 leaves it out)
//	RINGBACK_BENCH_INTAKE_OPEN_CONNS connections the open loop may use (256)
//	RINGBACK_BENCH_INTAKE_ARGS     more flags of ringback serve, for a look
//	                               at what one costs (--personal.keys off)
//	RINGBACK_BENCH_INTAKE_CPUPROFILE, _HEAPPROFILE, _GOROUTINES, _TRACE
//	                               files to save the platform's profiles
//	                               (an execution trace for _TRACE) to
//	                               (+.variant)
//	RINGBACK_BENCH_KEEP            a directory that keeps the platforms'
//	                               data and logs
type intakeOptions struct {
	duration, baseline time.Duration
	clients, openConns int
	openRate           float64
	variants           []intakeVariant
	shapes             []intakeShape
	broker             string // kfake-broker's binary, for the shapes on Kafka
}

// intakeShape is how the platform runs under the load.
type intakeShape struct {
	name, about string
	// targets is ringback serve's --target.
	targets string
	// kafka: the process publishes to a Kafka broker (kfake, a process of
	// its own on the same cores: startBroker), as one replica of the
	// distributed mode does.
	kafka bool
}

// intakeShapes: "all" is make run's shape, every service in one process on
// the in-process bus, so the services behind intake take their share of
// the same 2 cores while they catch up. "alone" is one intake replica of
// the distributed mode (deploy/k8s), the only service in its process,
// publishing to Kafka. Its store is the embedded one
// (--allow-embedded-with-kafka): the shared store of production,
// PostgreSQL, runs on machines of its own, and on these 2 cores beside the
// platform and the client it would measure PostgreSQL.
var intakeShapes = []intakeShape{
	{name: "all", about: "bin/ringback all services, embedded store", targets: "all"},
	{name: "alone", about: "bin/ringback --target intake, one replica: Kafka (a kfake broker on the same cores), embedded store",
		targets: "intake", kafka: true},
}

func parseIntakeOptions() (intakeOptions, error) {
	o := intakeOptions{duration: 60 * time.Second, clients: 64, openConns: 256, openRate: intakeTargetRate,
		variants: intakeVariants, shapes: intakeShapes}
	for name, dst := range map[string]*int{"RINGBACK_BENCH_INTAKE_CLIENTS": &o.clients, "RINGBACK_BENCH_INTAKE_OPEN_CONNS": &o.openConns} {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return o, fmt.Errorf("%s=%q: want a positive number", name, v)
			}
			*dst = n
		}
	}
	if v := os.Getenv("RINGBACK_BENCH_INTAKE_OPEN_RATE"); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n < 0 {
			return o, fmt.Errorf("RINGBACK_BENCH_INTAKE_OPEN_RATE=%q: want a rate per second, or 0", v)
		}
		o.openRate = n
	}
	if v := os.Getenv("RINGBACK_BENCH_INTAKE_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return o, fmt.Errorf("RINGBACK_BENCH_INTAKE_SECONDS=%q: want a positive number", v)
		}
		o.duration = time.Duration(n) * time.Second
	}
	// The baseline's rate is steady within seconds: a quarter of the run.
	o.baseline = max(o.duration/4, 5*time.Second)
	if v := os.Getenv("RINGBACK_BENCH_INTAKE_VARIANTS"); v != "" {
		o.variants = nil
		for _, name := range strings.Split(v, ",") {
			found := false
			for _, iv := range intakeVariants {
				if strings.EqualFold(iv.name, name) {
					o.variants, found = append(o.variants, iv), true
				}
			}
			if !found {
				return o, fmt.Errorf("RINGBACK_BENCH_INTAKE_VARIANTS: no variant %q", name)
			}
		}
	}
	if v := os.Getenv("RINGBACK_BENCH_INTAKE_SHAPES"); v != "" {
		o.shapes = nil
		for _, name := range strings.Split(v, ",") {
			i := slices.IndexFunc(intakeShapes, func(s intakeShape) bool { return strings.EqualFold(s.name, name) })
			if i < 0 {
				return o, fmt.Errorf("RINGBACK_BENCH_INTAKE_SHAPES: no shape %q (all, alone)", name)
			}
			o.shapes = append(o.shapes, intakeShapes[i])
		}
	}
	return o, nil
}

// BenchmarkIntake runs the whole workload once per variant, whatever b.N
// (use -benchtime 1x): for each way in and each shape of the platform
// (intakeShapes: all services in one process; one intake replica alone),
// the rate and latency of callbacks accepted (201, or GMS's 200: written
// and fsync'd) by bin/ringback, from many clients for a fixed time, beside the same client
// against a handler in this process that only decodes the request and
// answers; then the live heap each accepted callback adds to the
// binary, by the ringback package that allocated it (intake's own share is
// services/intake; the store's index, libs/eventstore/embedded). The
// platform and this client share the machine's cores, as do the baseline's
// server and client.
//
// The clients are closed-loop (one request at a time each), so latency is
// clients / rate: 64 clients at 5,000/s wait 13 ms on average, whatever the
// platform does; 256 would need 10,000/s for 25 ms. That run measures the
// capacity. A second platform then takes an open loop (driveOpen):
// visitors arriving at 5,000/s, each request timed from when it was due,
// the p99 a site's visitors would see at that rate.
func BenchmarkIntake(b *testing.B) {
	o, err := parseIntakeOptions()
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
	if slices.ContainsFunc(o.shapes, func(s intakeShape) bool { return s.kafka }) {
		if o.broker, err = buildBroker(ctx, dir); err != nil {
			b.Fatal(err)
		}
	}
	if keep := os.Getenv("RINGBACK_BENCH_KEEP"); keep != "" {
		dir = keep // the platforms' data and logs, for a look afterwards
	}
	for _, v := range o.variants {
		closed := func(d time.Duration) func(string, *atomic.Int64) (loadRun, error) {
			return func(base string, next *atomic.Int64) (loadRun, error) {
				return drive(ctx, base, v, o.clients, d, 0, next)
			}
		}
		open := func(d time.Duration) func(string, *atomic.Int64) (loadRun, error) {
			return func(base string, next *atomic.Int64) (loadRun, error) {
				return driveOpen(ctx, base, v, o.openRate, o.openConns, d, next)
			}
		}
		base, err := intakeBaseline(ctx, v, closed(o.baseline))
		if err != nil {
			b.Fatalf("%s baseline: %v", v.name, err)
		}
		var obase loadRun
		if o.openRate > 0 {
			if obase, err = intakeBaseline(ctx, v, open(o.baseline)); err != nil {
				b.Fatalf("%s open-loop baseline: %v", v.name, err)
			}
		}
		for _, sh := range o.shapes {
			metric := v.name
			if sh.name != "all" {
				metric += "-" + sh.name
			}
			got, mem, err := intakeOnPlatform(ctx, bin, filepath.Join(dir, v.name+"-"+sh.name), v, o, sh, closed(o.duration))
			if errors.Is(err, errNotServed) {
				fmt.Printf("intake %s: not served by this build (%s answers 404); variant skipped\n", v.name, v.path)
				break
			}
			if err != nil {
				b.Fatalf("%s %s: %v", v.name, sh.name, err)
			}
			rate, p99 := got.rate(), got.lat.p99
			b.ReportMetric(rate, metric+"-accepted/s")
			fmt.Printf("intake %s, closed loop (%d clients, %s, %s): %.0f accepted/s, p50 %.2f ms p99 %.2f ms "+
				"max %.2f ms, %d refused, %d errors (capacity, target ≥ %d/s: %s); baseline, the same client against a handler "+
				"that only decodes and answers: %.0f/s, p50 %.2f ms p99 %.2f ms\n",
				v.name, o.clients, o.duration, sh.about, rate, ms(got.lat.p50), ms(p99), ms(got.lat.max), got.refused, got.errors,
				intakeTargetRate, verdict(rate >= intakeTargetRate && got.errors == 0),
				base.rate(), ms(base.lat.p50), ms(base.lat.p99))
			printCost(v.name+" "+sh.name, sh, got, mem)
			if o.openRate == 0 {
				continue
			}
			og, omem, err := intakeOnPlatform(ctx, bin, filepath.Join(dir, v.name+"-"+sh.name+"-open"), v, o, sh, open(o.duration))
			if err != nil {
				b.Fatalf("%s %s open loop: %v", v.name, sh.name, err)
			}
			offered := int(o.openRate * o.duration.Seconds())
			orate := float64(og.accepted) / o.duration.Seconds()
			met := og.errors == 0 && og.refused == 0 && og.lat.p99 < intakeTargetP99 && orate >= 0.99*min(o.openRate, intakeTargetRate)
			b.ReportMetric(ms(og.lat.p99), metric+"-open-p99-ms")
			fmt.Printf("intake %s, open loop (%s; visitors arriving at %.0f/s for %s, independently, on up to %d connections; latency from when each was due): "+
				"%d of about %d accepted (%.0f/s), p50 %.2f ms p99 %.2f ms max %.2f ms, %d refused, %d errors (target ≥ %d/s with p99 < %d ms: %s); "+
				"baseline, the same load against a handler that only decodes and answers: p50 %.2f ms p99 %.2f ms\n",
				v.name, sh.about, o.openRate, o.duration, o.openConns, og.accepted, offered, orate, ms(og.lat.p50), ms(og.lat.p99), ms(og.lat.max),
				og.refused, og.errors, intakeTargetRate, intakeTargetP99.Milliseconds(),
				verdict(met && rate >= intakeTargetRate), ms(obase.lat.p50), ms(obase.lat.p99))
			printCost(v.name+" "+sh.name+" open loop", sh, og, omem)
		}
	}
}

// printCost prints the platform's CPU and live heap per accepted callback.
func printCost(name string, sh intakeShape, got loadRun, mem heapFigure) {
	per := got.cpu / float64(max(got.accepted, 1))
	fmt.Printf("  %s platform CPU: %.3f ms per accepted callback (%.2f of %d cores busy: the machine is shared with this client%s), "+
		"so at most %.0f/s if it had the 2 cores to itself\n", name, 1000*per,
		got.cpu/got.elapsed.Seconds(), runtime.NumCPU(), loadNote(), 2/per)
	fmt.Printf("  %s memory: live heap %+.0f B per accepted callback over %d (the process: %.1f MB -> %.1f MB)%s\n",
		name, mem.perCallback(), mem.accepted, mem.before/1e6, mem.after/1e6, mem.owners())
	fmt.Printf("  %s store: %.0f group commits (a write and an fdatasync each), %.0f over 10 ms, %.0f over 25 ms, %.0f over 100 ms, %.0f over 250 ms\n",
		name, got.commits, got.commitsOver10ms, got.commitsOver25ms, got.commitsOver100ms, got.commitsOver250ms)
	if sh.kafka {
		fmt.Printf("  %s: the newest event intake's relay had published to Kafka when the load ended was %.1f s old\n",
			name, got.deliveredAgo.Seconds())
		return
	}
	if got.requested > 0 {
		// In a flood the services behind intake fall behind, and take
		// their share of the cores whatever each event costs them.
		fmt.Printf("  %s behind intake when the load ended: the scheduler had made %.0f of the %.0f accepted callbacks due (%.0f %%); "+
			"the newest event every consumer had acknowledged was %.1f s old\n",
			name, got.due, got.requested, 100*got.due/got.requested, got.deliveredAgo.Seconds())
	}
}

// loadRun is what a load saw.
type loadRun struct {
	accepted, refused, errors int
	elapsed                   time.Duration
	cpu                       float64 // the platform's CPU seconds during the load
	lat                       stats
	// Where the services behind intake were when the load ended: the
	// callbacks intake had accepted and the scheduler had made due (all
	// of the platform's life), and the age of the newest event every
	// consumer had acknowledged.
	requested, due float64
	deliveredAgo   time.Duration
	// The store's group commits (a write and an fdatasync each), and how
	// many took over 10, 25, 100 and 250 ms: a stalled sync holds every request
	// waiting on it, and shows in the tail whatever the platform does.
	commits, commitsOver10ms, commitsOver25ms, commitsOver100ms, commitsOver250ms float64
}

func (r loadRun) rate() float64 { return float64(r.accepted) / r.elapsed.Seconds() }

// tally is what one client saw of its requests.
type tally struct {
	lats                    []time.Duration
	accepted, refused, errs int
	notFound                bool
	first                   error
}

// send posts the i-th request of v to base and counts its answer, its
// latency running from since.
func (t *tally) send(ctx context.Context, client *http.Client, base string, v intakeVariant, i int64, since time.Time) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+v.path, strings.NewReader(v.body(number(i))))
	if err != nil {
		t.fail(err)
		return
	}
	req.Header.Set("Content-Type", v.contentType)
	res, err := client.Do(req)
	if err != nil {
		t.fail(err)
		return
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	t.lats = append(t.lats, time.Since(since))
	switch {
	case res.StatusCode == v.created:
		t.accepted++
	case res.StatusCode == http.StatusNotFound:
		t.notFound = true
		t.refused++
	case res.StatusCode/100 == 4:
		t.refused++
		if t.first == nil {
			t.first = fmt.Errorf("%s: %s", res.Status, body)
		}
	default:
		t.fail(fmt.Errorf("%s: %s", res.Status, body))
	}
}

func (t *tally) fail(err error) {
	t.errs++
	if t.first == nil {
		t.first = err
	}
}

// totals adds the clients' tallies up into run (its elapsed time set).
func totals(run loadRun, ts []*tally, name string) (loadRun, error) {
	var (
		lats     []time.Duration
		first    error
		notFound bool
	)
	for _, t := range ts {
		run.accepted += t.accepted
		run.refused += t.refused
		run.errors += t.errs
		lats = append(lats, t.lats...)
		notFound = notFound || t.notFound
		if first == nil {
			first = t.first
		}
	}
	run.lat = summarize(lats)
	if run.accepted == 0 {
		if notFound {
			return run, errNotServed
		}
		return run, fmt.Errorf("nothing accepted: %w", first)
	}
	if run.errors+run.refused > 0 {
		fmt.Printf("  %s: %d refused, %d errors; first: %v\n", name, run.refused, run.errors, first)
	}
	return run, nil
}

func benchClient(conns int) (*http.Client, func()) {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, tr.CloseIdleConnections
}

// drive sends v's requests to base from clients clients, each on its own
// keep-alive connection and one request at a time (closed loop), numbers
// from *next on, for d or (d == 0) until n requests are answered.
func drive(ctx context.Context, base string, v intakeVariant, clients int, d time.Duration, n int64, next *atomic.Int64) (loadRun, error) {
	client, closeIdle := benchClient(clients)
	defer closeIdle()
	var (
		wg   sync.WaitGroup
		done atomic.Int64
	)
	stop := make(chan struct{})
	start := time.Now()
	ts := make([]*tally, clients)
	for c := range ts {
		t := &tally{}
		ts[c] = t
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				if d == 0 && done.Add(1) > n {
					return
				}
				t.send(ctx, client, base, v, next.Add(1), time.Now())
			}
		})
	}
	if d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
		close(stop)
	}
	wg.Wait()
	return totals(loadRun{elapsed: time.Since(start)}, ts, v.name)
}

// intakeBaseline is drive against a handler that only decodes the request
// (JSON or form) and answers as the platform does (201 or 200) with a small
// JSON body.
func intakeBaseline(ctx context.Context, v intakeVariant, load func(string, *atomic.Int64) (loadRun, error)) (loadRun, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return loadRun{}, err
	}
	var seq atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var number string
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
			var req struct {
				Service     string `json:"service"`
				PhoneNumber string `json:"phone_number"`
			}
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			number = req.PhoneNumber
		} else {
			if err := r.ParseForm(); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			number = r.PostForm.Get("_customer_number")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(v.created)
		_ = json.NewEncoder(w).Encode(map[string]string{"id": strconv.FormatInt(seq.Add(1), 10), "phone_number": number})
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	var next atomic.Int64
	return load("http://"+ln.Addr().String(), &next)
}

// heapFigure is the platform's live heap before and after the load.
type heapFigure struct {
	before, after float64
	accepted      int
	byOwner       map[string]float64 // growth by the ringback package that allocated it
}

func (h heapFigure) perCallback() float64 { return (h.after - h.before) / float64(max(h.accepted, 1)) }

func (h heapFigure) owners() string {
	if len(h.byOwner) == 0 {
		return ""
	}
	type kv struct {
		k        string
		v, total float64
	}
	var all []kv
	for k, v := range h.byOwner {
		all = append(all, kv{k, v / float64(max(h.accepted, 1)), v})
	}
	for i := range all { // a handful: insertion sort, largest first
		for j := i; j > 0 && all[j].v > all[j-1].v; j-- {
			all[j], all[j-1] = all[j-1], all[j]
		}
	}
	var parts []string
	for _, e := range all {
		if e.v >= 50 || e.v <= -50 {
			parts = append(parts, fmt.Sprintf("%s %+.0f (%.1f MB)", e.k, e.v, e.total/1e6))
		}
	}
	// By where it was allocated, not who holds it: a stream name made by
	// intake and kept by the store's index counts for intake.
	return "; live heap by allocating package, B/callback (in all, sampled): " + strings.Join(parts, ", ")
}

// intakeOnPlatform starts bin/ringback with targets, warms it up, then
// drives v against it for d and reads
// its live heap before and after from --debug-pprof.
func intakeOnPlatform(ctx context.Context, bin, dir string, v intakeVariant, o intakeOptions, sh intakeShape,
	load func(base string, next *atomic.Int64) (loadRun, error)) (loadRun, heapFigure, error) {
	d := o.duration
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return loadRun{}, heapFigure{}, err
	}
	var extra []string
	if sh.kafka {
		// A broker of its own: what one platform's relay published goes
		// with it.
		addr, stop, err := startBroker(o.broker)
		if err != nil {
			return loadRun{}, heapFigure{}, err
		}
		defer stop()
		extra = []string{"--bus", "kafka", "--kafka-brokers", addr, "--allow-embedded-with-kafka"}
	}
	var (
		p         *platform
		pprofAddr string
	)
	// A free port may be taken again before the platform binds it (its SIP
	// address over TCP too): try again with others.
	for attempt := 0; ; attempt++ {
		trunk, err := freePort("udp")
		if err != nil {
			return loadRun{}, heapFigure{}, err
		}
		if pprofAddr, err = freePort("tcp"); err != nil {
			return loadRun{}, heapFigure{}, err
		}
		// The flood benchmark measures the limits; this one the path behind
		// them, so the service's limit (200/s by default) is off too.
		args := append(append([]string{"--target", sh.targets, "--debug-pprof", pprofAddr, "--intake.rate-service=off"}, extra...),
			strings.Fields(os.Getenv("RINGBACK_BENCH_INTAKE_ARGS"))...)
		pdir := filepath.Join(dir, strconv.Itoa(attempt))
		if err := os.MkdirAll(pdir, 0o755); err != nil {
			return loadRun{}, heapFigure{}, err
		}
		p, err = startPlatform(ctx, bin, pdir, trunk, args...)
		if err == nil {
			break
		}
		if attempt == 2 || !strings.Contains(err.Error(), "address already in use") {
			return loadRun{}, heapFigure{}, err
		}
	}
	defer func() { _ = p.stop() }()
	var next atomic.Int64
	// Warm-up: connections, the contact key, the first pages of the log.
	if _, err := drive(ctx, p.URL, v, o.clients, 0, int64(4*o.clients), &next); err != nil {
		return loadRun{}, heapFigure{}, fmt.Errorf("warm-up: %w", err)
	}
	before, owners0, err := liveHeap(ctx, pprofAddr)
	if err != nil {
		return loadRun{}, heapFigure{}, err
	}
	if f := os.Getenv("RINGBACK_BENCH_INTAKE_CPUPROFILE"); f != "" {
		go saveProfile(ctx, pprofAddr, fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds()*3/4)), f+"."+v.name+"."+sh.name)
	}
	if f := os.Getenv("RINGBACK_BENCH_INTAKE_TRACE"); f != "" {
		go func() { // three seconds from the middle: where the waits are
			time.Sleep(d / 2)
			saveProfile(ctx, pprofAddr, "/debug/pprof/trace?seconds=3", f+"."+v.name)
		}()
	}
	if f := os.Getenv("RINGBACK_BENCH_INTAKE_GOROUTINES"); f != "" {
		go func() {
			time.Sleep(d / 2)
			saveProfile(ctx, pprofAddr, "/debug/pprof/goroutine?debug=1", f+"."+v.name)
		}()
	}
	m0, err := p.metrics(ctx)
	if err != nil {
		return loadRun{}, heapFigure{}, err
	}
	run, err := load(p.URL, &next)
	if err != nil {
		return run, heapFigure{}, err
	}
	m1, err := p.metrics(ctx)
	if err != nil {
		return run, heapFigure{}, err
	}
	run.cpu = m1["process_cpu_seconds_total"] - m0["process_cpu_seconds_total"]
	delta := func(k string) float64 { return m1[k] - m0[k] }
	run.commits = delta("ringback_eventstore_commit_seconds_count")
	run.commitsOver10ms = run.commits - delta(`ringback_eventstore_commit_seconds_bucket{le="0.01"}`)
	run.commitsOver25ms = run.commits - delta(`ringback_eventstore_commit_seconds_bucket{le="0.025"}`)
	run.commitsOver100ms = run.commits - delta(`ringback_eventstore_commit_seconds_bucket{le="0.1"}`)
	run.commitsOver250ms = run.commits - delta(`ringback_eventstore_commit_seconds_bucket{le="0.25"}`)
	run.requested, run.due = m1["ringback_callbacks_requested_total"], m1["ringback_callbacks_fired_total"]
	if at := m1["ringback_relay_last_published_event_timestamp_seconds"]; at > 0 {
		run.deliveredAgo = time.Since(time.Unix(0, int64(at*1e9)))
	}
	if f := os.Getenv("RINGBACK_BENCH_INTAKE_HEAPPROFILE"); f != "" {
		saveProfile(ctx, pprofAddr, "/debug/pprof/heap?gc=1", f+"."+v.name+"."+sh.name)
	}
	after, owners, err := liveHeap(ctx, pprofAddr)
	if err != nil {
		return run, heapFigure{}, err
	}
	if _, settled, err := liveHeap(ctx, pprofAddr); err == nil {
		owners = settled // a second collection: the load's last garbage is gone
	}
	for k, v := range owners0 {
		owners[k] -= v // growth during the load
	}
	if err := p.stop(); err != nil {
		return run, heapFigure{}, err
	}
	return run, heapFigure{before: before, after: after, accepted: run.accepted, byOwner: owners}, nil
}

// startBroker runs a Kafka broker (bin, from buildBroker) as a process of
// its own: in this one, the memory of what it keeps would be collected by
// this client's garbage collector, within the latencies it measures.
func startBroker(bin string) (addr string, stop func(), err error) {
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0")
	childproc.DieWithParent(cmd)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("kfake-broker: %w", err)
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("kfake-broker's address: %w", err)
	}
	return strings.TrimSpace(line), stop, nil
}

// buildBroker builds kafkatest's kfake-broker into dir.
func buildBroker(ctx context.Context, dir string) (string, error) {
	return goBuild(ctx, filepath.Join(dir, "kfake-broker"), "github.com/ringback/ringback/libs/bus/kafka/kafkatest/cmd/kfake-broker")
}

func saveProfile(ctx context.Context, addr, path, file string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Printf("  profile %s: %v\n", path, err)
		return
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	_ = os.WriteFile(file, b, 0o644)
}

// liveHeap forces a collection in the platform (the heap profile's gc=1)
// and reads the bytes of live objects then (HeapAlloc), and the sampled
// live bytes by the ringback package nearest the allocation.
func liveHeap(ctx context.Context, addr string) (float64, map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/heap?gc=1&debug=1", nil)
	if err != nil {
		return 0, nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("heap profile: %w", err)
	}
	defer res.Body.Close()
	var (
		heap    float64
		owners  = map[string]float64{}
		pending float64 // in-use bytes of the record whose frames follow
		owned   bool
	)
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	rate := 512 * 1024.0
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "heap profile: "); ok {
			// "... @ heap/<2*MemProfileRate>" (GODEBUG=memprofilerate changes it)
			if _, r, ok := strings.Cut(v, "@ heap/"); ok {
				if n, err := strconv.ParseFloat(r, 64); err == nil && n > 0 {
					rate = n / 2
				}
			}
			continue
		}
		if v, ok := strings.CutPrefix(line, "# HeapAlloc = "); ok {
			heap, _ = strconv.ParseFloat(v, 64)
			continue
		}
		// A record: "inuse objs: inuse bytes [alloc objs: alloc bytes] @ pcs"
		if objs, rest, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(line, "#") && strings.Contains(rest, " @ ") {
			bytesStr, _, _ := strings.Cut(rest, " ")
			n, _ := strconv.ParseFloat(objs, 64)
			sz, _ := strconv.ParseFloat(bytesStr, 64)
			pending, owned = scaleHeap(n, sz, rate), false
			continue
		}
		// A frame: "#\t0x...\tpkg.func+0x..\tfile:line"
		if f := strings.Split(line, "\t"); len(f) >= 3 && f[0] == "#" && !owned && pending > 0 {
			if o := ownerOf(f[2]); o != "" {
				owners[o] += pending
				owned = true
			}
		}
	}
	if heap == 0 {
		return 0, nil, fmt.Errorf("heap profile: no HeapAlloc (%w)", sc.Err())
	}
	return heap, owners, sc.Err()
}

// scaleHeap undoes the heap profile's sampling (one sample per rate bytes
// on average, 512 KiB by default), as pprof does: n objects of size bytes
// in all.
func scaleHeap(n, size, rate float64) float64 {
	if n == 0 || size == 0 {
		return 0
	}
	avg := size / n
	return size / (1 - expNeg(avg/rate))
}

func expNeg(x float64) float64 {
	// e^-x, small x (an object against the sampling rate): a few terms suffice.
	sum, term := 1.0, 1.0
	for k := 1; k < 30; k++ {
		term *= -x / float64(k)
		sum += term
	}
	return sum
}

// ownerOf names the ringback package of a frame's function
// (github.com/ringback/ringback/libs/eventstore/embedded.(*Store).run ->
// libs/eventstore/embedded), or "" for the runtime's and other modules'.
func ownerOf(fn string) string {
	rest, ok := strings.CutPrefix(fn, "github.com/ringback/ringback/")
	if !ok {
		return ""
	}
	if i := strings.Index(rest, "."); i > 0 {
		return rest[:i]
	}
	return rest
}

// loadNote is the machine's load average, when the system says it: work
// other than this benchmark's shows in it.
func loadNote() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return ""
	}
	return ", load average " + f[0]
}
