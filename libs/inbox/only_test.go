package inbox_test

import (
	"context"
	"sync"
	"testing"
	"time"

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
