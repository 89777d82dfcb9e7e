package relay

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
)

// stalledBus takes every batch and never delivers one: a consumer group
// that has stopped acknowledging.
type stalledBus struct {
	batches, events atomic.Int64
}

func (b *stalledBus) Publish(string, ...*message.Message) error {
	panic("the relay publishes async here")
}
func (b *stalledBus) Close() error { return nil }

func (b *stalledBus) PublishAsync(_ string, msgs ...*message.Message) <-chan error {
	b.batches.Add(1)
	b.events.Add(int64(len(msgs)))
	return make(chan error) // never answered
}

// A consumer that stops acknowledging costs the relay what it holds in
// flight for it, bounded: it stops reading the store at maxInFlight
// batches or maxEventsInFlight events (a batch more at most), rather than
// holding the whole backlog in memory.
func TestRelayBoundsWhatAStalledConsumerHolds(t *testing.T) {
	store, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	const total = 3 * maxEventsInFlight
	for s := range total / 100 {
		evs := make([]eventstore.EventData, 100)
		for i := range evs {
			evs[i] = eventstore.EventData{ID: uuid.NewString(), Type: "t.v1.E", Data: []byte("x")}
		}
		if _, err := store.Append(t.Context(), fmt.Sprint("intake-callback-", s), eventstore.NoStream, evs...); err != nil {
			t.Fatal(err)
		}
	}
	bus := &stalledBus{}
	r := New(store, bus, memCheckpoints{}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	// Wait until the relay stops taking batches: the same count for 200 ms.
	var last int64 = -1
	for stable, deadline := 0, time.Now().Add(30*time.Second); stable < 10; {
		if time.Now().After(deadline) {
			t.Fatalf("the relay still takes batches after 30 s: %d events in %d batches", bus.events.Load(), bus.batches.Load())
		}
		time.Sleep(20 * time.Millisecond)
		if n := bus.events.Load(); n == last {
			stable++
		} else {
			last, stable = n, 0
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("relay run: %v", err)
	}
	events, batches := bus.events.Load(), bus.batches.Load()
	t.Logf("stalled with %d events in %d batches in flight, of %d", events, batches, total)
	if batches > maxInFlight || events >= maxEventsInFlight+maxBatch {
		t.Fatalf("%d events in %d batches in flight: over the bounds (%d batches, %d events and a batch)",
			events, batches, maxInFlight, maxEventsInFlight)
	}
	if batches < maxInFlight && events < maxEventsInFlight {
		t.Fatalf("%d events in %d batches in flight: the relay stopped before either bound", events, batches)
	}
}

// memCheckpoints starts at the beginning and keeps nothing.
type memCheckpoints struct{}

func (memCheckpoints) Load(context.Context) (eventstore.Position, error) {
	return eventstore.Position{}, nil
}
func (memCheckpoints) Save(context.Context, eventstore.Position) error { return nil }
