package inbox_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/inbox"
	"github.com/ringback/ringback/proto/catalog"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// Config.Only: on a topic it names, only the types it lists reach the
// handler (the others are acknowledged, not redelivered); a topic it does
// not name delivers everything.
func TestOnlyTheNamedTypesReachTheHandler(t *testing.T) {
	namedTypesReachTheHandler(t, inbox.Config{Name: "only-test", Topics: []string{envelope.TopicOf("intake"), envelope.TopicOf("scheduler")},
		Only: map[string][]string{envelope.TopicOf("intake"): {catalog.TypeName(&callbackv1.CallbackCancelled{})}}})
}

// namedTypesReachTheHandler: of intake's request and cancel and the
// scheduler's due, cfg lets through the cancel and the due.
func namedTypesReachTheHandler(t *testing.T, cfg inbox.Config) {
	st, _, consume := world(t)
	var (
		mu  sync.Mutex
		got []string
	)
	h := func(_ context.Context, e envelope.Envelope) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e.Stream+" "+e.Type)
		return nil
	}
	consume(h, cfg)
	ctx := context.Background()
	write := func(stream string, events ...proto.Message) {
		t.Helper()
		_, err := eventstore.Execute(ctx, st, stream, eventstore.Aggregate[int]{Evolve: func(n int, _ proto.Message) int { return n + 1 }},
			eventstore.Cause{ID: stream, Correlation: "1"}, func(int) ([]proto.Message, error) { return events, nil })
		if err != nil {
			t.Fatal(err)
		}
	}
	write("intake-callback-1", &callbackv1.CallbackRequested{CallbackId: "1"}, &callbackv1.CallbackCancelled{CallbackId: "1"})
	write("scheduler-callback-1", &callbackv1.CallbackDue{CallbackId: "1"})
	want := map[string]bool{"intake-callback-1 " + catalog.TypeName(&callbackv1.CallbackCancelled{}): true,
		"scheduler-callback-1 " + catalog.TypeName(&callbackv1.CallbackDue{}): true}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a skipped message redelivered would come now
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("handled %v, want %v", got, want)
	}
	for _, g := range got {
		if !want[g] {
			t.Fatalf("handled %v, want %v", got, want)
		}
	}
}

// openingSubscriber is an inbox.Opener that counts what it opens and
// fails the first opening of failFirst.
type openingSubscriber struct {
	message.Subscriber
	mu        *sync.Mutex
	opened    map[string]int
	failFirst string
}

func (s openingSubscriber) Open(m *message.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	typ := m.Metadata.Get(envelope.KeyType)
	s.opened[typ]++
	if typ == s.failFirst && s.opened[typ] == 1 {
		return errors.New("keys not reachable now")
	}
	return nil
}

// A sealed topic's messages are opened only when the consumer keeps them
// (Only), and one that cannot be opened yet comes again, to its handler
// once, rather than going to the poison topic.
func TestOnlyTheKeptMessagesAreOpened(t *testing.T) {
	var mu sync.Mutex
	opened := map[string]int{}
	cancelled := catalog.TypeName(&callbackv1.CallbackCancelled{})
	st, _, consume := worldWith(t, func(s message.Subscriber) message.Subscriber {
		return openingSubscriber{Subscriber: s, mu: &mu, opened: opened, failFirst: cancelled}
	})
	var handled []string
	consume(func(_ context.Context, e envelope.Envelope) error {
		mu.Lock()
		defer mu.Unlock()
		handled = append(handled, e.Type)
		return nil
	}, inbox.Config{Name: "open-test", Topics: []string{envelope.TopicOf("intake")}, MaxAttempts: 1,
		Only: map[string][]string{envelope.TopicOf("intake"): {cancelled}}})
	_, err := eventstore.Execute(context.Background(), st, "intake-callback-1", eventstore.Aggregate[int]{Evolve: func(n int, _ proto.Message) int { return n + 1 }},
		eventstore.Cause{ID: "c", Correlation: "1"}, func(int) ([]proto.Message, error) {
			return []proto.Message{&callbackv1.CallbackRequested{CallbackId: "1"}, &callbackv1.CallbackCancelled{CallbackId: "1"}}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(handled)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a second delivery would come now
	mu.Lock()
	defer mu.Unlock()
	if len(handled) != 1 || handled[0] != cancelled {
		t.Fatalf("handled %v, want the cancel once", handled)
	}
	if opened[catalog.TypeName(&callbackv1.CallbackRequested{})] != 0 || opened[cancelled] != 2 {
		t.Fatalf("opened %v: want the request never, the cancel twice (a failure, then again)", opened)
	}
}
