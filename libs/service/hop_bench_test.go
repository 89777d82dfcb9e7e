package service_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/inbox"
	"github.com/ringback/ringback/libs/readmodel"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// BenchmarkEventHop measures the floor under issue 13's cost per callback:
// the CPU of one event hop through the platform's own pieces, with no
// domain work at all. A hop is what every step of a callback pays: a
// service's handler decides one event on a stream of its own
// (service.Domain.Execute: read, decide, encode, append, fdatasync); the
// relay reads it from the store and publishes it on the in-process bus;
// the next handler receives it through the router's middleware and the
// inbox. The hops run one after the other, as a callback's steps do.
//
// Beside the bare hop it measures what the platform adds to every event:
// "with a copy", a second consumer copying each event into a stream of
// its own that shares a sync (what history does with every fact of a
// callback); "and 8 read models", projections folding the store (the
// platform runs eight). The baseline is the disk's own floor in the same
// run: a write and an fdatasync of an event's size, with nothing else.
// RINGBACK_BENCH_HOPS sets the hops per variant (2,000). Run it with
//
//	go test -run '^$' -bench EventHop -benchtime 1x ./service/
func BenchmarkEventHop(b *testing.B) {
	n := 2000
	if v := os.Getenv("RINGBACK_BENCH_HOPS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 {
			b.Fatalf("RINGBACK_BENCH_HOPS=%q: want a number of 100 or more", v)
		}
	}
	type cost struct{ cpu, wall time.Duration }
	var got [3]cost
	for i, v := range []struct {
		name        string
		copied      bool
		projections int
	}{{"bare", false, 0}, {"with-a-copy", true, 0}, {"and-8-read-models", true, 8}} {
		b.Run(v.name, func(b *testing.B) {
			cpu, wall := benchHops(b, n, v.copied, v.projections)
			got[i] = cost{cpu / time.Duration(n), wall / time.Duration(n)}
		})
	}
	floor := syncFloor(b, n)
	if b.Failed() {
		return
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
	fmt.Printf("event hop (issue 13's floor, %d hops in a row each): %.0f µs CPU per event bare (%.0f µs wall), "+
		"%.0f with a copy beside it, %.0f with 8 read models too; baseline, the disk's write+fdatasync alone: %.0f µs CPU\n",
		n, us(got[0].cpu), us(got[0].wall), us(got[1].cpu), us(got[2].cpu), us(floor))
}

// hops is the chain's domain: one event on each stream, naming the hop.
var hops = service.Domain[bool, int]{
	Stream:    func(id string) string { return "intake-callback-" + id },
	Aggregate: eventstore.Aggregate[bool]{Evolve: func(bool, proto.Message) bool { return true }},
	Decide: func(_ bool, n int) ([]proto.Message, error) {
		return []proto.Message{&callbackv1.CallbackCancelled{CallbackId: strconv.Itoa(n), Reason: "hop"}}, nil
	},
}

// copies is the copier's domain, history's trail in miniature.
var copies = service.Domain[bool, string]{
	Stream:    func(id string) string { return "history-callback-" + id },
	Aggregate: eventstore.Aggregate[bool]{Evolve: func(bool, proto.Message) bool { return true }},
	Decide: func(_ bool, id string) ([]proto.Message, error) {
		return []proto.Message{&callbackv1.CallbackCancelled{CallbackId: id, Reason: "copy"}}, nil
	},
}

func benchHops(b *testing.B, n int, copied bool, projections int) (cpu, wall time.Duration) {
	env := servicetest.New(b)
	d := deps(env)
	topic := envelope.TopicOf("intake")
	done := make(chan struct{})
	var end sync.Once
	none := func() *readmodel.Projection { return &readmodel.Projection{Prefixes: []string{"none-"}} }
	env.Go(func(ctx context.Context) error {
		return d.Run(ctx, none(), inbox.Config{Name: "hop", Topics: []string{topic}}, func(ctx context.Context, e envelope.Envelope) error {
			c, ok := e.Event.(*callbackv1.CallbackCancelled)
			if !ok || c.Reason != "hop" {
				return nil
			}
			k, err := strconv.Atoi(c.CallbackId)
			if err != nil {
				return fmt.Errorf("hop %q: %w", c.CallbackId, err)
			}
			if k >= n {
				end.Do(func() { close(done) })
				return nil
			}
			_, err = hops.Execute(ctx, d.Store, strconv.Itoa(k+1), eventstore.Cause{ID: e.ID, Correlation: "chain"}, k+1)
			return err
		})
	})
	if copied {
		env.Go(func(ctx context.Context) error {
			return d.Run(ctx, none(), inbox.Config{Name: "copier", Topics: []string{topic}}, func(ctx context.Context, e envelope.Envelope) error {
				c, ok := e.Event.(*callbackv1.CallbackCancelled)
				if !ok || c.Reason != "hop" {
					return nil
				}
				_, err := copies.Execute(eventstore.WithSharedSync(ctx), d.Store, c.CallbackId, eventstore.Cause{ID: e.ID, Correlation: "chain"}, e.ID)
				return err
			})
		})
	}
	for range projections {
		p := &readmodel.Projection{Prefixes: []string{"intake-", "history-"}, Apply: func(eventstore.RecordedEvent, proto.Message) {}}
		env.Go(func(ctx context.Context) error { return p.Run(ctx, env.Store) })
	}
	env.Relay(topic)
	// An event no handler acts on warms the path (the first pages of the log).
	env.Append(hops.Stream("warm"), "warm", &callbackv1.CallbackCancelled{CallbackId: "warm", Reason: "warm"})
	time.Sleep(100 * time.Millisecond)

	cpu0, start := cpuTime(), time.Now()
	env.Append(hops.Stream("0"), "start", &callbackv1.CallbackCancelled{CallbackId: "0", Reason: "hop"})
	select {
	case <-done:
	case <-time.After(time.Duration(n) * 50 * time.Millisecond):
		b.Fatalf("the chain of %d hops did not end", n)
	}
	cpu, wall = cpuTime()-cpu0, time.Since(start)
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/hop")
	b.ReportMetric(float64(wall.Microseconds())/float64(n), "wall-µs/hop")
	return cpu, wall
}

// syncFloor is the CPU of n writes of an event's size, each followed by
// the sync the embedded store makes, in a file of the same disk reserved
// ahead as the store's log is: what no durable append can cost less than.
func syncFloor(b *testing.B, n int) time.Duration {
	f, err := os.Create(filepath.Join(b.TempDir(), "floor"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rec := make([]byte, 300)
	if _, err := f.WriteAt(make([]byte, n*len(rec)), 0); err != nil {
		b.Fatal(err)
	}
	if err := syncData(f); err != nil {
		b.Fatal(err)
	}
	cpu0 := cpuTime()
	for i := range n {
		if _, err := f.WriteAt(rec, int64(i*len(rec))); err != nil {
			b.Fatal(err)
		}
		if err := syncData(f); err != nil {
			b.Fatal(err)
		}
	}
	return (cpuTime() - cpu0) / time.Duration(n)
}

// cpuTime is the user and system CPU this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
