package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/availability"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/libs/servicetest"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/scheduler/schedule"
)

// The figures of issue 11 (make bench), each beside a baseline from the
// same run. RINGBACK_BENCH_PENDING scales the million down for a quick look.

func benchPending(b *testing.B) int {
	if v := os.Getenv("RINGBACK_BENCH_PENDING"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("RINGBACK_BENCH_PENDING=%q: want a count", v)
		}
		return n
	}
	return 1_000_000
}

// benchServices: support as in deploy/samples/services.yaml, with room for
// a million bookings over a fortnight.
func benchServices(b *testing.B) *serviceconf.Set {
	set, err := serviceconf.Parse([]byte(`
services:
  support:
    office_hours:
      zone: Europe/Paris
      open: ["Mon-Fri 08:00-20:00", "Sat 09:00-12:00"]
      holidays: ["2026-12-25"]
    capacity: {bucket: 30m, per_bucket: 5000, when_full: refuse}
`), time.LoadLocation)
	if err != nil {
		b.Fatal(err)
	}
	return set
}

// request is a visitor's request as the web form sends it, case data
// included: what the old pending view kept per callback.
func benchRequest(i int) *callbackv1.CallbackRequest {
	return &callbackv1.CallbackRequest{Service: "support", PhoneNumber: fmt.Sprintf("+3361%07d", i), Subject: "Billing question",
		ContactName: "Camille Martin", CaseData: map[string]string{"order": fmt.Sprintf("A-%d", i), "page": "https://shop.example/checkout",
			"basket": "3 items, 129.90 EUR"}, RequestedAt: timestamppb.New(servicetest.Start), Timezone: "Europe/Paris"}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkPendingMemory: the scheduler's views with N pending callbacks,
// each holding a place in a 30-minute bucket of the next fortnight, in
// bytes per callback: the timer's (pending) alone, and all that the
// scheduler folds (pending, places, bookings and the time-to-live view).
// Baseline: a map of the same N bare ids.
func BenchmarkPendingMemory(b *testing.B) {
	n := benchPending(b)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	due := func(i int) time.Time { return servicetest.Start.Add(time.Duration(i%(14*48)) * 30 * time.Minute) }
	for range b.N {
		before := heapAlloc()
		bare := make(map[string]struct{})
		for _, id := range ids {
			bare[strings.Clone(id)] = struct{}{}
		}
		baseline := float64(heapAlloc()-before) / float64(n)
		runtime.KeepAlive(bare)

		before = heapAlloc()
		p := newPending()
		for i, id := range ids {
			p.apply(eventstore.RecordedEvent{Stream: schedule.Stream(id)},
				&callbackv1.CallbackScheduled{CallbackId: id, Request: benchRequest(i), DueAt: timestamppb.New(due(i))})
		}
		timer := float64(heapAlloc()-before) / float64(n)
		runtime.KeepAlive(p)
		p = nil

		before = heapAlloc()
		s, err := New(Config{ServiceSet: benchServices(b)}, Deps{Log: discard(), Metrics: prometheus.NewRegistry(), Mux: http.NewServeMux()})
		if err != nil {
			b.Fatal(err)
		}
		loc := s.service("support").Hours.Location()
		for i, id := range ids {
			bucket := availability.BucketStart(due(i), loc, 30*time.Minute)
			s.proj.Apply(eventstore.RecordedEvent{Stream: availability.Stream("support", bucket)}, &callbackv1.SlotTaken{CallbackId: id, Take: int64(i + 1)})
			s.proj.Apply(eventstore.RecordedEvent{Stream: schedule.Stream(id)}, &callbackv1.CallbackScheduled{CallbackId: id,
				Request: benchRequest(i), DueAt: timestamppb.New(due(i)), ExpiresAt: timestamppb.New(servicetest.Start.Add(72 * time.Hour))})
		}
		all := float64(heapAlloc()-before) / float64(n)
		if s.pending.len() != n {
			b.Fatalf("%d pending, want %d", s.pending.len(), n)
		}
		runtime.KeepAlive(s)
		b.ReportMetric(timer, "timer-B/pending")
		b.ReportMetric(all, "scheduler-B/pending")
		b.ReportMetric(baseline, "baseline-B/id")
		fmt.Printf("\nscheduler: memory per pending callback (%d pending): timer view %.0f B, all the scheduler's views %.0f B (target < 1024 B), "+
			"beside a map of the bare ids %.0f B\n", n, timer, all, baseline)
	}
}

// BenchmarkRestart: a scheduler started on an embedded store holding N
// scheduled callbacks, until Ready (its views whole). Baseline: reading the
// same store to its head without decoding or folding.
func BenchmarkRestart(b *testing.B) {
	n := benchPending(b)
	env := servicetest.New(b)
	ctx := context.Background()
	began := time.Now()
	parallel(n, 64, func(i int) {
		id := uuid.NewString()
		data, err := eventstore.Encode(ctx, schedule.Stream(id), eventstore.Cause{ID: "request:" + id},
			[]proto.Message{&callbackv1.CallbackScheduled{CallbackId: id, Request: benchRequest(i),
				DueAt: timestamppb.New(servicetest.Start.Add(24 * time.Hour))}})
		if err != nil {
			b.Error(err)
			return
		}
		if _, err := env.Store.Append(ctx, schedule.Stream(id), eventstore.NoStream, data...); err != nil {
			b.Error(err)
		}
	})
	fill := time.Since(began)
	b.ResetTimer()
	for range b.N {
		head, err := env.Store.(eventstore.HeadReader).Head(ctx)
		if err != nil {
			b.Fatal(err)
		}
		began := time.Now()
		read := 0
		sctx, cancel := context.WithCancel(ctx)
		_ = env.Store.SubscribeAll(sctx, eventstore.Position{}, func(_ context.Context, r eventstore.RecordedEvent) error {
			read++
			if !r.Position.Less(head) {
				cancel()
			}
			return nil
		})
		cancel()
		bare := time.Since(began)

		s, err := New(Config{}, Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: discard(),
			Metrics: prometheus.NewRegistry(), Mux: http.NewServeMux()})
		if err != nil {
			b.Fatal(err)
		}
		began = time.Now()
		rctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(rctx) }()
		for s.Ready() != nil {
			time.Sleep(time.Millisecond)
		}
		ready := time.Since(began)
		stop()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if s.pending.len() != n || read != n {
			b.Fatalf("%d pending, %d read; want %d", s.pending.len(), read, n)
		}
		b.ReportMetric(ready.Seconds(), "ready-s")
		b.ReportMetric(bare.Seconds(), "baseline-read-s")
		fmt.Printf("\nscheduler: restart until ready with %d pending %.2f s (%.0f schedules/s), "+
			"beside reading the same events without folding %.2f s (store filled in %.0f s)\n",
			n, ready.Seconds(), float64(n)/ready.Seconds(), bare.Seconds(), fill.Seconds())
	}
}

// BenchmarkDueDispatch: 10,000 callbacks due in the same second (one every
// 100 µs), the running scheduler's timer and the embedded store; the lag of
// each CallbackDue, from its due time to the event being delivered by the
// store's subscription. The clock is the fake one moved along with real
// time every millisecond, so the due times come as they would, without
// racing a real deadline while the store fills. Baseline: the bare appends
// of 10,000 CallbackDue from as many writers as the timer's pool, timed
// from their start.
func BenchmarkDueDispatch(b *testing.B) {
	const n = 10_000
	for range b.N {
		env := servicetest.New(b)
		ctx := context.Background()
		at := servicetest.Start.Add(time.Hour)
		ids := make([]string, n)
		takes := make([]proto.Message, n)
		for i := range ids {
			ids[i] = uuid.NewString()
			takes[i] = &callbackv1.SlotTaken{CallbackId: ids[i], Take: int64(i + 1)}
		}
		// Each holds a place in the bucket (a service with a capacity): as
		// they fall due, their places are released too, on the same store.
		paris, _ := time.LoadLocation("Europe/Paris")
		bucket := availability.Stream("support", availability.BucketStart(at, paris, 30*time.Minute))
		data, err := eventstore.Encode(ctx, bucket, eventstore.Cause{ID: "takes"}, takes)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := env.Store.Append(ctx, bucket, eventstore.NoStream, data...); err != nil {
			b.Fatal(err)
		}
		parallel(n, fireWorkers, func(i int) {
			data, _ := eventstore.Encode(ctx, schedule.Stream(ids[i]), eventstore.Cause{ID: "request:" + ids[i]},
				[]proto.Message{&callbackv1.CallbackScheduled{CallbackId: ids[i], Request: benchRequest(i),
					DueAt: timestamppb.New(at.Add(time.Duration(i) * 100 * time.Microsecond))}}) // within one second
			if _, err := env.Store.Append(ctx, schedule.Stream(ids[i]), eventstore.NoStream, data...); err != nil {
				b.Error(err)
			}
		})
		// Baseline: the bare appends of as many CallbackDue.
		began := time.Now()
		var bareLags []time.Duration
		var mu sync.Mutex
		parallel(n, fireWorkers, func(i int) {
			stream := "bench-due-" + ids[i]
			data, _ := eventstore.Encode(ctx, stream, eventstore.Cause{ID: "due:" + ids[i]},
				[]proto.Message{&callbackv1.CallbackDue{CallbackId: ids[i], Request: benchRequest(i), DueAt: timestamppb.New(at)}})
			if _, err := env.Store.Append(ctx, stream, eventstore.NoStream, data...); err != nil {
				b.Error(err)
			}
			mu.Lock()
			bareLags = append(bareLags, time.Since(began))
			mu.Unlock()
		})

		s, err := New(Config{ServiceSet: benchServices(b)}, Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock,
			Log: discard(), Metrics: prometheus.NewRegistry(), Mux: http.NewServeMux()})
		if err != nil {
			b.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(rctx) }()
		for s.Ready() != nil || env.Clock.Waiters() == 0 {
			time.Sleep(time.Millisecond)
		}
		head, err := env.Store.(eventstore.HeadReader).Head(ctx)
		if err != nil {
			b.Fatal(err)
		}
		env.Clock.Advance(at.Sub(env.Clock.Now()) - time.Millisecond)
		var (
			lags   = make([]time.Duration, 0, n)
			seen   atomic.Int64
			all    = make(chan struct{})
			t0     time.Time // wall time when the fake clock read at - 1ms
			t0Set  = make(chan struct{})
			sctx   context.Context
			cancel context.CancelFunc
		)
		sctx, cancel = context.WithCancel(ctx)
		subDone := make(chan struct{})
		go func() {
			defer close(subDone)
			_ = env.Store.SubscribeAll(sctx, head, func(_ context.Context, r eventstore.RecordedEvent) error {
				if r.Type != "ringback.callback.v1.CallbackDue" {
					return nil
				}
				<-t0Set
				m, err := eventstore.Decode(r)
				if err != nil {
					return err
				}
				dueWall := t0.Add(time.Millisecond + m.(*callbackv1.CallbackDue).DueAt.AsTime().Sub(at))
				lags = append(lags, time.Since(dueWall))
				if seen.Add(1) == n {
					close(all)
				}
				return nil
			})
		}()
		t0 = time.Now()
		close(t0Set)
		// The fake clock follows real time until every callback is out.
		tick := time.NewTicker(time.Millisecond)
		moved := time.Duration(0)
	follow:
		for {
			select {
			case <-all:
				break follow
			case <-tick.C:
				now := time.Since(t0)
				env.Clock.Advance(now - moved)
				moved = now
				if now > 2*time.Minute {
					b.Fatalf("%d of %d dispatched after 2 minutes", seen.Load(), n)
				}
			}
		}
		tick.Stop()
		cancel()
		<-subDone
		stop()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		slices.Sort(lags)
		slices.Sort(bareLags)
		p99, last := lags[n*99/100], lags[n-1]
		b.ReportMetric(float64(p99.Milliseconds()), "p99-lag-ms")
		b.ReportMetric(float64(last.Milliseconds()), "all-dispatched-ms")
		fmt.Printf("\nscheduler: due dispatch of %d due in the same second: lag p50 %s p99 %s (target < 100ms), max %s (target: all within 2s), "+
			"beside the bare appends of %d CallbackDue: p50 %s p99 %s, all in %s\n",
			n, lags[n/2].Round(time.Millisecond), p99.Round(time.Millisecond), last.Round(time.Millisecond), n,
			bareLags[n/2].Round(time.Millisecond), bareLags[n*99/100].Round(time.Millisecond), bareLags[n-1].Round(time.Millisecond))
	}
}

// BenchmarkAvailability: GET /v1/services/support/availability over 14
// days with 1,000,000 callbacks booked, p99 of the handler (JSON included).
// Baseline: the same 14-day walk of the hours without bookings.
func BenchmarkAvailability(b *testing.B) {
	const booked, queries = 1_000_000, 2000
	env := servicetest.New(b)
	mux := http.NewServeMux()
	s, err := New(Config{ServiceSet: benchServices(b)}, Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock,
		Log: discard(), Metrics: prometheus.NewRegistry(), Mux: mux})
	if err != nil {
		b.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.proj.Run(rctx, env.Store) }()
	defer func() {
		stop()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			b.Error(err)
		}
	}()
	for s.Ready() != nil {
		time.Sleep(time.Millisecond)
	}
	svc := s.service("support")
	q := availability.Query{Hours: svc.Hours, Capacity: *svc.Capacity, From: servicetest.Start, To: servicetest.Start.Add(14 * 24 * time.Hour)}
	open := availability.Slots(q, func(time.Time) int { return 0 })
	for i := range booked {
		s.bookings.Apply(eventstore.RecordedEvent{Stream: availability.Stream("support", open[i%len(open)].Bucket)},
			&callbackv1.SlotTaken{CallbackId: "x", Take: int64(i + 1)})
	}
	measure := func(fn func()) (p50, p99 time.Duration) {
		d := make([]time.Duration, queries)
		for i := range d {
			began := time.Now()
			fn()
			d[i] = time.Since(began)
		}
		slices.Sort(d)
		return d[len(d)/2], d[len(d)*99/100]
	}
	b.ResetTimer()
	for range b.N {
		var slots int
		p50, p99 := measure(func() {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/services/support/availability?max=1000", nil))
			if rec.Code != 200 {
				b.Fatalf("availability: %d %s", rec.Code, rec.Body)
			}
			slots = len(open)
		})
		b50, b99 := measure(func() { availability.Slots(q, func(time.Time) int { return 0 }) })
		b.ReportMetric(float64(p99.Microseconds()), "p99-us")
		b.ReportMetric(float64(b99.Microseconds()), "baseline-p99-us")
		fmt.Printf("\nscheduler: availability over 14 days (%d slots) with %d booked: p50 %s p99 %s (target < 5ms), "+
			"beside the 14-day walk of the hours without bookings: p50 %s p99 %s\n",
			slots, booked, p50.Round(time.Microsecond), p99.Round(time.Microsecond), b50.Round(time.Microsecond), b99.Round(time.Microsecond))
	}
}

// parallel runs fn(0..n-1) on workers goroutines and waits for them.
func parallel(n, workers int, fn func(int)) {
	var (
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		}()
	}
	wg.Wait()
}
