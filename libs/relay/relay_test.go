package relay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/bus/inproc"
	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
	"github.com/ringback/ringback/libs/inbox"
	"github.com/ringback/ringback/libs/relay"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// crashingPublisher lets limit messages through, then fails like a process
// that died in the middle of a batch: part of it reached the bus, none of it
// was checkpointed.
type crashingPublisher struct {
	message.Publisher
	limit   int
	sent    int
	crashed chan struct{}
	once    sync.Once
}

var errCrash = errors.New("process killed")

func (p *crashingPublisher) Publish(topic string, msgs ...*message.Message) error {
	if p.sent+len(msgs) <= p.limit {
		p.sent += len(msgs)
		return p.Publisher.Publish(topic, msgs...)
	}
	if part := msgs[:p.limit-p.sent]; len(part) > 0 {
		p.sent = p.limit
		if err := p.Publisher.Publish(topic, part...); err != nil {
			return err
		}
	}
	p.once.Do(func() { close(p.crashed) })
	return errCrash
}

// frozenCheckpoints stops saving once the process is "dead".
type frozenCheckpoints struct {
	relay.Checkpoints
	dead *atomic.Bool
}

func (f frozenCheckpoints) Save(ctx context.Context, p eventstore.Position) error {
	if f.dead.Load() {
		return nil
	}
	return f.Checkpoints.Save(ctx, p)
}

func TestRelayRestartLosesNothingAndConsumersDropDuplicates(t *testing.T) {
	const streams, perStream = 10, 30
	dir := t.TempDir()
	st, err := embedded.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The producers' events: intake-callback-<n>, perStream each.
	for s := range streams {
		stream := fmt.Sprintf("intake-callback-%d", s)
		for i := range perStream {
			ev := &callbackv1.CallbackCancelled{CallbackId: stream, Reason: fmt.Sprint(i), At: timestamppb.Now()}
			_, err := eventstore.Execute(ctx, st, stream, eventstore.Aggregate[int]{Evolve: func(n int, _ proto.Message) int { return n + 1 }},
				eventstore.Cause{ID: fmt.Sprintf("p-%d-%d", s, i)}, func(int) ([]proto.Message, error) { return []proto.Message{ev}, nil })
			if err != nil {
				t.Fatal(err)
			}
		}
	}

	// A consumer that records each event it is given into its own stream,
	// idempotently, as every service's inbox does.
	bus := inproc.New(watermill.NopLogger{})
	defer bus.Close()
	var delivered atomic.Int64
	consumerDone := make(chan error, 1)
	subs := func(group string) (message.Subscriber, error) { return bus.Subscriber(group), nil }
	cctx, ccancel := context.WithCancel(ctx)
	go func() {
		consumerDone <- inbox.Consume(cctx, subs, inbox.Config{Name: "audit", Topics: []string{envelope.TopicOf("intake")}, Log: log},
			func(ctx context.Context, e envelope.Envelope) error {
				delivered.Add(1)
				_, err := eventstore.Execute(ctx, st, "audit-"+e.Stream, eventstore.Aggregate[int]{Evolve: func(n int, _ proto.Message) int { return n + 1 }},
					eventstore.Cause{ID: e.ID}, func(int) ([]proto.Message, error) { return []proto.Message{e.Event}, nil })
				return err
			})
	}()
	waitSubscribed(t, bus)

	cp := relay.InStore(st, "relay-intake")
	var dead atomic.Bool
	// First life: killed after a few batches, its last checkpoint behind
	// what it published.
	pub := &crashingPublisher{Publisher: bus, limit: 120, crashed: make(chan struct{})}
	r1 := relay.New(st, pub, frozenCheckpoints{cp, &dead}, log)
	r1.SaveEvery = time.Hour // only the periodic save would have run: never, before the crash
	r1ctx, r1cancel := context.WithCancel(ctx)
	r1done := make(chan error, 1)
	go func() { r1done <- r1.Run(r1ctx) }()
	<-pub.crashed
	dead.Store(true)
	r1cancel()
	t.Logf("the crashed relay ended: %v", <-r1done)
	firstLife := delivered.Load()
	if firstLife == 0 {
		t.Fatal("the first relay published nothing before the crash")
	}

	// Second life: from the persisted checkpoint, to the end.
	dead.Store(false)
	r2 := relay.New(st, bus, cp, log)
	r2ctx, r2cancel := context.WithCancel(ctx)
	r2done := make(chan error, 1)
	go func() { r2done <- r2.Run(r2ctx) }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		total := 0
		for s := range streams {
			recs, err := st.ReadStream(ctx, fmt.Sprintf("audit-intake-callback-%d", s), 0)
			if err != nil {
				t.Fatal(err)
			}
			total += len(recs)
		}
		if total == streams*perStream {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumers hold %d of %d events", total, streams*perStream)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r2cancel()
	if err := <-r2done; err != nil {
		t.Fatalf("relay: %v", err)
	}
	ccancel()
	t.Logf("consumer ended: %v", <-consumerDone)
	// Every event is recorded exactly once, in order, although some were
	// delivered twice (the first life's unsaved progress was replayed).
	for s := range streams {
		recs, _ := st.ReadStream(ctx, fmt.Sprintf("audit-intake-callback-%d", s), 0)
		for i, r := range recs {
			m, _ := eventstore.Decode(r)
			if got := m.(*callbackv1.CallbackCancelled).Reason; got != fmt.Sprint(i) {
				t.Fatalf("stream %d event %d is %s: out of order or duplicated", s, i, got)
			}
		}
	}
	t.Logf("delivered %d messages for %d events (first life %d): %d duplicates dropped",
		delivered.Load(), streams*perStream, firstLife, delivered.Load()-int64(streams*perStream))
	if delivered.Load() <= int64(streams*perStream) {
		t.Fatalf("no duplicate was delivered: the test did not exercise a replay")
	}
}

func waitSubscribed(t *testing.T, bus *inproc.Bus) {
	t.Helper()
	// The in-process bus drops what no group reads yet.
	deadline := time.Now().Add(10 * time.Second)
	for bus.Groups(envelope.TopicOf("intake")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the consumer never subscribed")
		}
		time.Sleep(time.Millisecond)
	}
}

// failingCheckpoints fails every save while down, as a store that does
// not answer does.
type failingCheckpoints struct {
	relay.Checkpoints
	down  *atomic.Bool
	tries *atomic.Int64
}

func (f failingCheckpoints) Save(ctx context.Context, p eventstore.Position) error {
	if f.down.Load() {
		f.tries.Add(1)
		return fmt.Errorf("save checkpoint: %w", context.DeadlineExceeded)
	}
	return f.Checkpoints.Save(ctx, p)
}

// TestRelayOutlivesCheckpointFailures: while its checkpoint cannot be
// saved, the relay keeps publishing and keeps running (it used to end,
// and its process with it); once saves succeed again the checkpoint
// reaches the last event published.
func TestRelayOutlivesCheckpointFailures(t *testing.T) {
	st, err := embedded.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	bus := inproc.New(watermill.NopLogger{})
	defer bus.Close()
	sub := bus.Subscriber("audit")
	msgs, err := sub.Subscribe(ctx, envelope.TopicOf("intake"))
	if err != nil {
		t.Fatal(err)
	}
	waitSubscribed(t, bus)
	var down atomic.Bool
	var tries atomic.Int64
	down.Store(true)
	cp := relay.InStore(st, "relay-intake")
	r := relay.New(st, bus, failingCheckpoints{cp, &down, &tries}, slog.New(slog.DiscardHandler))
	r.SaveEvery = time.Millisecond
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()

	const events = 50
	var last eventstore.Position
	for i := range events {
		stream := fmt.Sprintf("intake-callback-%d", i)
		out, err := eventstore.Execute(ctx, st, stream, eventstore.Aggregate[int]{Evolve: func(n int, _ proto.Message) int { return n + 1 }},
			eventstore.Cause{ID: stream}, func(int) ([]proto.Message, error) {
				return []proto.Message{&callbackv1.CallbackCancelled{CallbackId: stream, At: timestamppb.Now()}}, nil
			})
		if err != nil {
			t.Fatal(err)
		}
		last = out.Position
		select {
		case m := <-msgs:
			m.Ack()
		case err := <-done:
			t.Fatalf("the relay ended while its checkpoint failed: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d not published while the checkpoint failed", i)
		}
	}
	if tries.Load() == 0 {
		t.Fatal("no save was tried: the test did not exercise a failure")
	}
	down.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := cp.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Less(last) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint at %v after saves came back, want %v", p, last)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d saves failed; all %d events published meanwhile", tries.Load(), events)
}
