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

// On the in-process bus the relay builds and sends nothing no group would
// receive: a topic no group subscribed to, a type every group of its topic
// leaves out (history's copies: intake reads only the erasures). The
// checkpoint still moves past those events in store order, and what a
// group reads comes to it.
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
	erasures := b.Subscriber("intake").(*inproc.Subscriber)
	if err := erasures.LeaveOut("ringback.history", func(typ string) bool { return typ != "t.v1.Erased" }); err != nil {
		t.Fatal(err)
	}
	erased, err := erasures.Subscribe(t.Context(), "ringback.history")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	var last eventstore.Position
	for _, e := range []struct{ stream, typ string }{{"intake-callback-1", "t.v1.E"}, {"history-callback-1", "t.v1.Copy"},
		{"other-1", "t.v1.E"}, {"intake-callback-2", "t.v1.E"}, {"history-erasure-1", "t.v1.Erased"}, {"history-callback-2", "t.v1.Copy"}} {
		id := uuid.NewString()
		res, err := store.Append(t.Context(), e.stream, eventstore.NoStream, eventstore.EventData{ID: id, Type: e.typ, Data: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		last = res.Position
		if e.stream[:6] == "intake" {
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
	select {
	case m := <-erased:
		if m.Metadata.Get("ce_type") != "t.v1.Erased" {
			t.Fatalf("the erasures' group got %s", m.Metadata.Get("ce_type"))
		}
		m.Ack()
	case <-time.After(10 * time.Second):
		t.Fatal("the erasure never came")
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
	if len(b.topics) != 2 || b.topics["ringback.history"] != 1 || b.topics["ringback.intake"] != 2 {
		t.Fatalf("handed to the bus: %v; want the two intake events and the erasure", b.topics)
	}
}
