package relay_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/bus/inproc"
	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
	"github.com/ringback/ringback/libs/relay"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// TestRelayReplayAfterKillIsOneInterval kills a relay (no final save, as
// kill -9) while events flow, and counts what its successor re-publishes
// from the checkpoint kept in the store: at most what was published since
// the last periodic save, never the service's whole history.
func TestRelayReplayAfterKillIsOneInterval(t *testing.T) {
	r := killAndReplay(t)
	t.Logf("kill -9 of the relay after %d published events: its successor re-published %d (checkpoint every %v, flow %.0f events/s, so one interval is about %.0f events)",
		r.firstLife, r.replayed, r.saveEvery, r.rate, r.rate*r.saveEvery.Seconds())
	if r.replayed >= r.firstLife {
		t.Fatalf("replayed %d of the first life's %d events: the checkpoint was not used", r.replayed, r.firstLife)
	}
}

// BenchmarkRelayReplayAfterKill prints the same figure for make bench,
// beside its baseline: the events one checkpoint interval holds at that flow.
func BenchmarkRelayReplayAfterKill(b *testing.B) {
	var replayed, interval float64
	for range b.N {
		r := killAndReplay(b)
		replayed += float64(r.replayed)
		interval += r.rate * r.saveEvery.Seconds()
	}
	n := float64(b.N)
	b.ReportMetric(replayed/n, "replayed/kill")
	fmt.Printf("\nrelay: after kill -9, %.0f events published again (mean of %d kills), beside one checkpoint interval's flow of %.0f events\n",
		replayed/n, b.N, interval/n)
}

type replayResult struct {
	firstLife, replayed int64
	rate                float64
	saveEvery           time.Duration
}

func killAndReplay(t testing.TB) replayResult {
	const saveEvery = 100 * time.Millisecond
	st, err := embedded.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	bus := inproc.New(watermill.NopLogger{})
	defer bus.Close()
	msgs, err := bus.Subscriber("count").Subscribe(ctx, envelope.TopicOf("intake"))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu        sync.Mutex
		seen      = map[string]int{}
		delivered atomic.Int64
	)
	go func() {
		for m := range msgs {
			mu.Lock()
			seen[m.UUID]++
			mu.Unlock()
			delivered.Add(1)
			m.Ack()
		}
	}()

	// A steady producer: one event a millisecond over 20 streams.
	var produced atomic.Int64
	prodCtx, stopProducing := context.WithCancel(ctx)
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		agg := eventstore.Aggregate[int]{Evolve: func(n int, _ proto.Message) int { return n + 1 }}
		for i := 0; prodCtx.Err() == nil; i++ {
			stream := fmt.Sprintf("intake-callback-%d", i%20)
			ev := &callbackv1.CallbackCancelled{CallbackId: stream, Reason: fmt.Sprint(i), At: timestamppb.Now()}
			if _, err := eventstore.Execute(prodCtx, st, stream, agg, eventstore.Cause{ID: fmt.Sprint("p-", i)},
				func(int) ([]proto.Message, error) { return []proto.Message{ev}, nil }); err != nil {
				return
			}
			produced.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()

	cp := relay.InStore(st, "relay-intake")
	var dead atomic.Bool
	r1 := relay.New(st, bus, frozenCheckpoints{cp, &dead}, log)
	r1.SaveEvery = saveEvery
	r1ctx, r1cancel := context.WithCancel(ctx)
	r1done := make(chan error, 1)
	go func() { r1done <- r1.Run(r1ctx) }()
	time.Sleep(750 * time.Millisecond)
	dead.Store(true) // kill -9: whatever it published since its last save is not saved
	r1cancel()
	t.Logf("the killed relay ended: %v", <-r1done)
	firstLife := delivered.Load()
	rate := float64(produced.Load()) / 0.75

	r2 := relay.New(st, bus, cp, log)
	r2.SaveEvery = saveEvery
	r2ctx, r2cancel := context.WithCancel(ctx)
	r2done := make(chan error, 1)
	go func() { r2done <- r2.Run(r2ctx) }()
	time.Sleep(200 * time.Millisecond)
	stopProducing()
	<-prodDone
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if int64(n) == produced.Load() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer saw %d distinct events of %d", n, produced.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	r2cancel()
	if err := <-r2done; err != nil {
		t.Fatal(err)
	}
	return replayResult{firstLife: firstLife, replayed: delivered.Load() - produced.Load(), rate: rate, saveEvery: saveEvery}
}
