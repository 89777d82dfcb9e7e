package relay

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/bus/inproc"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
)

// countingBus is the in-process bus, counting the messages the relay hands
// it by topic.
type countingBus struct {
	*inproc.Bus
	mu     sync.Mutex
	topics map[string]int
}

func (b *countingBus) PublishAsync(topic string, msgs ...*message.Message) <-chan error {
	b.mu.Lock()
	b.topics[topic] += len(msgs)
	b.mu.Unlock()
	return b.Bus.PublishAsync(topic, msgs...)
}

// savedCheckpoint keeps the relay's last checkpoint.
type savedCheckpoint struct {
	mu  sync.Mutex
	pos eventstore.Position
}

func (c *savedCheckpoint) Load(context.Context) (eventstore.Position, error) {
	return eventstore.Position{}, nil
}
func (c *savedCheckpoint) Save(_ context.Context, p eventstore.Position) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pos = p
	return nil
}
func (c *savedCheckpoint) get() eventstore.Position {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pos
}

// On the in-process bus the relay builds and sends nothing of a topic no
// group subscribed to (it would be dropped), while the checkpoint still
// moves past those events in store order, and the topics that have a group
// get every event of theirs, in order.
func TestRelaySendsNothingNoGroupWouldReceive(t *testing.T) {
	store, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	b := &countingBus{Bus: inproc.New(nil), topics: map[string]int{}}
	defer b.Close()
	msgs, err := b.Subscriber("scheduler").Subscribe(t.Context(), "ringback.intake")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	var last eventstore.Position
	for i, stream := range []string{"intake-callback-1", "history-callback-1", "history-callback-1", "intake-callback-2", "history-callback-2"} {
		id := uuid.NewString()
		expected := eventstore.NoStream
		if i == 2 {
			expected = eventstore.Exactly(0)
		}
		res, err := store.Append(t.Context(), stream, expected, eventstore.EventData{ID: id, Type: "t.v1.E", Data: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		last = res.Position
		if stream[:6] == "intake" {
			want = append(want, id)
		}
	}
	cp := &savedCheckpoint{}
	r := New(store, b, cp, slog.New(slog.DiscardHandler))
	r.SaveEvery = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	got := map[string]bool{}
	for range want {
		select {
		case m := <-msgs:
			got[m.Metadata.Get("ce_id")] = true // in order per stream, as on Kafka; each stream here has one
			m.Ack()
		case <-time.After(10 * time.Second):
			t.Fatalf("got %v of %v", got, want)
		}
	}
	for _, id := range want {
		if !got[id] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); cp.get() != last; {
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint %v, want the last event's %v", cp.get(), last)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.topics["ringback.history"] != 0 || b.topics["ringback.intake"] != 2 {
		t.Fatalf("handed to the bus: %v; want the two intake events and no history event", b.topics)
	}
}
