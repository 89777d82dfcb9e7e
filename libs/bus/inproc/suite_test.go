package inproc_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/ringback/ringback/libs/bus/inproc"
)

// TestPubSub holds the bus to Watermill's universal Pub/Sub suite.
//
// The suite publishes before it subscribes, in the same goroutine, and
// expects Publish to return; ours returns only after the groups acked, by
// design. So the suite publishes through queueingPublisher, which hands
// messages to Bus.Publish in order from a goroutine of its own. What blocking
// means is tested below (and in inproc_test.go).
//
// One process has one bus: every constructor call of a test gets a new
// publisher and subscriber handle on that test's bus, in one group. Groups
// outlive their handles, so messages "persist" between handles.
func TestPubSub(t *testing.T) {
	features := tests.Features{
		// Groups are tested below: the suite's group test initializes a
		// group that never reads, and our Publish waits for every group.
		ConsumerGroups:        false,
		ExactlyOnceDelivery:   true,
		GuaranteedOrder:       true,
		Persistent:            true,
		RequireSingleInstance: true,
	}
	var buses sync.Map // *testing.T -> *inproc.Bus
	tests.TestPubSub(t, features,
		func(t *testing.T) (message.Publisher, message.Subscriber) {
			b, loaded := buses.LoadOrStore(t, inproc.New(watermill.NopLogger{}))
			bus := b.(*inproc.Bus)
			if !loaded {
				t.Cleanup(func() { _ = bus.Close() })
			}
			return newQueueingPublisher(t, bus), bus.Subscriber("suite")
		},
		nil,
	)
}

// queueingPublisher publishes to the bus in the background, in call order.
type queueingPublisher struct {
	bus   *inproc.Bus
	queue chan func() error

	mu     sync.Mutex
	closed bool
}

func newQueueingPublisher(t *testing.T, bus *inproc.Bus) *queueingPublisher {
	p := &queueingPublisher{bus: bus, queue: make(chan func() error, 100000)}
	done := make(chan struct{})
	var errs []error
	go func() {
		defer close(done)
		for publish := range p.queue {
			if err := publish(); err != nil && !errors.Is(err, inproc.ErrClosed) {
				errs = append(errs, err)
			}
		}
	}()
	// Closing the bus fails whatever still waits for a group (a message the
	// test left unacked), so the goroutine can end.
	t.Cleanup(func() {
		_ = p.Close()
		_ = bus.Close()
		<-done
		for _, err := range errs {
			t.Errorf("background publish: %v", err)
		}
	})
	return p
}

func (p *queueingPublisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return inproc.ErrClosed
	}
	p.queue <- func() error { return p.bus.Publish(topic, msgs...) }
	return nil
}

// Close stops taking messages; those queued are still published.
func (p *queueingPublisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		close(p.queue)
	}
	return nil
}

const wait = 5 * time.Second

func receive(t *testing.T, msgs <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case msg, ok := <-msgs:
		if !ok {
			t.Fatal("channel closed")
		}
		return msg
	case <-time.After(wait):
		t.Fatal("no message")
	}
	return nil
}

func publishAsync(bus *inproc.Bus, topic string, msgs ...*message.Message) <-chan error {
	done := make(chan error, 1)
	go func() { done <- bus.Publish(topic, msgs...) }()
	return done
}

func TestNoGroupDrops(t *testing.T) {
	bus := inproc.New(nil)
	defer bus.Close()
	if err := bus.Publish("t", message.NewMessage("early", nil)); err != nil {
		t.Fatal(err)
	}
	msgs, err := bus.Subscriber("g").Subscribe(context.Background(), "t")
	if err != nil {
		t.Fatal(err)
	}
	published := publishAsync(bus, "t", message.NewMessage("late", nil))
	got := receive(t, msgs)
	got.Ack()
	if got.UUID != "late" {
		t.Fatalf("got %s: a message published before any group subscribed was kept", got.UUID)
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
}

// Subscribers of one group share its messages; every group gets all.
func TestGroupsCompeteWithinAndFanOutAcross(t *testing.T) {
	bus := inproc.New(nil)
	defer bus.Close()
	ctx := context.Background()
	a1, _ := bus.Subscriber("a").Subscribe(ctx, "t")
	a2, _ := bus.Subscriber("a").Subscribe(ctx, "t")
	b, _ := bus.Subscriber("b").Subscribe(ctx, "t")
	if n := bus.Groups("t"); n != 2 {
		t.Fatalf("groups %d, want 2", n)
	}

	const n = 20
	var msgs []*message.Message
	for i := range n {
		msgs = append(msgs, message.NewMessage(watermill.NewUUID(), []byte{byte(i)}))
	}
	published := publishAsync(bus, "t", msgs...)

	seenA := map[string]int{}
	var seenB []string
	for len(seenB) < n || len(seenA) < n {
		select {
		case m := <-a1:
			seenA[m.UUID]++
			m.Ack()
		case m := <-a2:
			seenA[m.UUID]++
			m.Ack()
		case m := <-b:
			seenB = append(seenB, m.UUID)
			m.Ack()
		case <-time.After(wait):
			t.Fatalf("group a got %d, group b %d of %d", len(seenA), len(seenB), n)
		}
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	for id, times := range seenA {
		if times != 1 {
			t.Errorf("group a got %s %d times", id, times)
		}
	}
	for i, id := range seenB {
		if id != msgs[i].UUID {
			t.Fatalf("group b message %d is %s, want %s: out of order", i, id, msgs[i].UUID)
		}
	}
}

// A nacked message comes back before the ones after it.
func TestNackKeepsOrder(t *testing.T) {
	bus := inproc.New(nil)
	defer bus.Close()
	msgs, _ := bus.Subscriber("g").Subscribe(context.Background(), "t")
	published := publishAsync(bus, "t", message.NewMessage("m1", nil), message.NewMessage("m2", nil))

	first := receive(t, msgs)
	first.Nack()
	select {
	case <-first.Context().Done():
	case <-time.After(wait):
		t.Error("nack did not cancel the message's context")
	}
	for _, want := range []string{"m1", "m2"} {
		got := receive(t, msgs)
		if got.UUID != want {
			t.Fatalf("got %s, want %s", got.UUID, want)
		}
		got.Ack()
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
}

// A group subscribed by SubscribeInitialize keeps what is published until a
// subscription takes it; Publish waits that long.
func TestSubscribeInitializeHoldsMessages(t *testing.T) {
	bus := inproc.New(nil)
	defer bus.Close()
	sub := bus.Subscriber("g")
	if err := sub.(message.SubscribeInitializer).SubscribeInitialize("t"); err != nil {
		t.Fatal(err)
	}
	published := publishAsync(bus, "t", message.NewMessage("m1", nil))
	select {
	case err := <-published:
		t.Fatalf("Publish returned (%v) before the group acked", err)
	case <-time.After(50 * time.Millisecond):
	}
	msgs, _ := sub.Subscribe(context.Background(), "t")
	receive(t, msgs).Ack()
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-msgs; ok {
		t.Error("channel open after Close")
	}
}

func TestPublishStopsWithItsContext(t *testing.T) {
	bus := inproc.New(nil)
	defer bus.Close()
	_, _ = bus.Subscriber("g").Subscribe(context.Background(), "t") // never read
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	msg := message.NewMessage("m1", nil)
	msg.SetContext(ctx)
	if err := bus.Publish("t", msg); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish: %v, want deadline exceeded", err)
	}
}

// Close stops every goroutine of the bus. Not parallel: it counts the
// process's goroutines.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	bus := inproc.New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	a, _ := bus.Subscriber("a").Subscribe(ctx, "t")
	sub := bus.Subscriber("b")
	_, _ = sub.Subscribe(context.Background(), "t")
	published := publishAsync(bus, "t", message.NewMessage("m1", nil))
	receive(t, a).Ack()
	cancel()
	_ = sub.Close()
	_ = bus.Close()
	if err := <-published; !errors.Is(err, inproc.ErrClosed) {
		t.Errorf("publish: %v, want ErrClosed (group b never acked)", err)
	}

	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}
