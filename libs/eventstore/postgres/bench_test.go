package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/postgres"
	"github.com/ringback/ringback/libs/eventstore/postgres/pgtest"
)

// BenchmarkAppend prints the performance issue's figures for this adapter:
// durable appends per second with 1 and 64 concurrent writers, next to
// PostgreSQL's own rate of single-row INSERTs into a plain table by one
// writer with synchronous_commit=on, measured in the same run on the same
// server. Concurrent appends of different streams share WAL flushes (group
// commit); the target is 64 writers >= 5x one writer.
//
//	go test -run '^$' -bench . ./eventstore/postgres/
//
// The figures mean durability only if the server syncs: pg_virtualenv turns
// fsync off unless told otherwise (make bench passes -o fsync=on).
func BenchmarkAppend(b *testing.B) {
	url := pgtest.Database(b)
	var raw, one, many float64
	b.Run("insert-baseline", func(b *testing.B) { raw = benchInsert(b, url) })
	b.Run("writers=1", func(b *testing.B) { one = benchAppend(b, url, 1) })
	b.Run("writers=64", func(b *testing.B) { many = benchAppend(b, url, 64) })
	// fmt, not b.Logf: the parent's log shows only with -v, and make bench
	// should print the figures side by side without it.
	if raw > 0 && one > 0 && many > 0 {
		fmt.Printf("postgres store: 1 writer %.0f appends/s, 64 writers %.0f appends/s = %.1f x 1 writer (target >= 5x); "+
			"plain INSERT, 1 writer, synchronous_commit=on: %.0f/s (fsync=%s)\n",
			one, many, many/one, raw, setting(b, url, "fsync"))
	}
}

// setting reads a server setting, for the summary.
func setting(b *testing.B, url, name string) string {
	conn, err := pgx.Connect(b.Context(), url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	var v string
	if err := conn.QueryRow(b.Context(), "SELECT current_setting($1)", name).Scan(&v); err != nil {
		b.Fatal(err)
	}
	return v
}

// benchInsert is the baseline: what one writer gets from PostgreSQL without
// any event-store logic, one autocommitted INSERT of a row like an event's.
func benchInsert(b *testing.B, url string) float64 {
	ctx := b.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `
SET synchronous_commit = on;
CREATE TABLE IF NOT EXISTS bench_insert (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, data bytea NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 200)
	b.ResetTimer()
	for range b.N {
		if _, err := conn.Exec(ctx, "INSERT INTO bench_insert (data) VALUES ($1)", data); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "inserts/s")
	return rate
}

// benchAppend runs writers goroutines, each appending one event per op to a
// stream of its own, until b.N appends have committed. The store has its
// default pool, as deployed.
func benchAppend(b *testing.B, url string, writers int) float64 {
	s, err := postgres.Open(b.Context(), url)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	prefix := "bench-" + uuid.NewString()
	data := make([]byte, 200) // about a protobuf domain event
	var ops atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("%s-%d", prefix, w)
			expected := eventstore.NoStream
			for ops.Add(1) <= int64(b.N) {
				r, err := s.Append(ctx, stream, expected, eventstore.EventData{
					ID: uuid.NewString(), Type: "bench.v1.Appended", Data: data,
				})
				if err != nil {
					b.Error(err)
					return
				}
				expected = r.NextExpected
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "appends/s")
	return rate
}

// BenchmarkRebuild is the rate a read model rebuilds at: SubscribeAll from
// the start over 100,000 stored events until it has caught up.
//
//	go test -run '^$' -bench Rebuild ./eventstore/postgres/
func BenchmarkRebuild(b *testing.B) {
	const total, perAppend, writers = 100_000, 50, 16
	url := pgtest.Database(b)
	s, err := postgres.Open(b.Context(), url, postgres.WithMaxConns(writers))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()

	// Fill: streams of 50-event appends, a few hundred bytes each.
	data := make([]byte, 200)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for n := next.Add(perAppend); n <= total; n = next.Add(perAppend) {
				evs := make([]eventstore.EventData, perAppend)
				for i := range evs {
					evs[i] = eventstore.EventData{ID: uuid.NewString(), Type: "bench.v1.Stored", Data: data,
						Metadata: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
				}
				if _, err := s.Append(ctx, fmt.Sprintf("rebuild-%d", n), eventstore.NoStream, evs...); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	head, err := s.Head(ctx)
	if err != nil {
		b.Fatal(err)
	}

	var rate float64
	b.Run(fmt.Sprintf("events=%d", total), func(b *testing.B) {
		errCaughtUp := errors.New("caught up")
		for b.Loop() {
			n := 0
			err := s.SubscribeAll(ctx, eventstore.Position{}, func(_ context.Context, e eventstore.RecordedEvent) error {
				n++
				if e.Position == head {
					return errCaughtUp
				}
				return nil
			})
			if !errors.Is(err, errCaughtUp) || n != total {
				b.Fatalf("rebuild: %d events, %v", n, err)
			}
		}
		rate = float64(total) * float64(b.N) / b.Elapsed().Seconds()
		b.ReportMetric(rate, "events/s")
	})
	if rate > 0 {
		fmt.Printf("postgres store: read-model rebuild %.0f events/s (SubscribeAll from the start over %d events, until caught up)\n", rate, total)
	}
}
