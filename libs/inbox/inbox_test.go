package inbox_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/bus/inproc"
	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
	"github.com/ringback/ringback/libs/inbox"
	"github.com/ringback/ringback/libs/relay"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// world is a store, a bus, a relay between them; the test consumes.
func world(t *testing.T) (eventstore.Store, *inproc.Bus, func(h inbox.Handler, cfg inbox.Config)) {
	return worldWith(t, func(s message.Subscriber) message.Subscriber { return s })
}

// worldWith is world whose consumers read through wrap's subscriber.
func worldWith(t *testing.T, wrap func(message.Subscriber) message.Subscriber) (eventstore.Store, *inproc.Bus, func(h inbox.Handler, cfg inbox.Config)) {
	st, err := embedded.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	bus := inproc.New(watermill.NopLogger{})
	ctx, cancel := context.WithCancel(context.Background())
	var done []chan struct{}
	t.Cleanup(func() {
		cancel()
		bus.Close()
		for _, d := range done {
			<-d
		}
		st.Close()
	})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	consume := func(h inbox.Handler, cfg inbox.Config) {
		cfg.Log = log
		d := make(chan struct{})
		done = append(done, d)
		go func() {
			defer close(d)
			_ = inbox.Consume(ctx, func(g string) (message.Subscriber, error) { return wrap(bus.Subscriber(g)), nil }, cfg, h)
		}()
		for _, topic := range cfg.Topics {
			for bus.Groups(topic) == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		d2 := make(chan struct{})
		done = append(done, d2)
		go func() {
			defer close(d2)
			_ = relay.New(st, bus, relay.InStore(st, "relay-test"), log).Run(ctx)
		}()
	}
	return st, bus, consume
}

func appendEvent(t *testing.T, ctx context.Context, st eventstore.Store) {
	t.Helper()
	_, err := eventstore.Execute(ctx, st, "intake-callback-1", eventstore.Aggregate[int]{Evolve: func(n int, _ proto.Message) int { return n }},
		eventstore.Cause{ID: "c1", Correlation: "1"},
		func(int) ([]proto.Message, error) {
			return []proto.Message{&callbackv1.CallbackRequested{CallbackId: "1"}}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTraceFollowsTheEventFromWriterToConsumer(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	st, _, consume := world(t)

	got := make(chan trace.SpanContext, 1)
	consume(func(ctx context.Context, e envelope.Envelope) error {
		if e.Correlation != "1" {
			t.Errorf("correlation %q", e.Correlation)
		}
		got <- trace.SpanContextFromContext(ctx)
		return nil
	}, inbox.Config{Name: "t", Topics: []string{envelope.TopicOf("intake")}})

	ctx, span := tp.Tracer("test").Start(context.Background(), "POST /v1/callbacks")
	appendEvent(t, ctx, st)
	span.End()
	select {
	case sc := <-got:
		if sc.TraceID() != span.SpanContext().TraceID() {
			t.Fatalf("consumer trace %s, writer trace %s", sc.TraceID(), span.SpanContext().TraceID())
		}
		// The consumer's span is a real one of the process's provider.
		deadline := time.Now().Add(5 * time.Second)
		for {
			found := false
			for _, s := range rec.Ended() {
				found = found || (s.SpanKind() == trace.SpanKindConsumer && s.SpanContext().TraceID() == span.SpanContext().TraceID())
			}
			if found {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no consumer span recorded in the writer's trace")
			}
			time.Sleep(5 * time.Millisecond)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not consumed")
	}
}

func TestFailingHandlerIsRetriedThenSetAsideOnThePoisonTopic(t *testing.T) {
	st, bus, consume := world(t)
	poisoned := make(chan *message.Message, 1)
	psub, _ := bus.Subscriber("poison-reader").Subscribe(context.Background(), inbox.PoisonTopic)
	go func() {
		m := <-psub
		m.Ack()
		poisoned <- m
	}()
	var attempts atomic.Int32
	consume(func(context.Context, envelope.Envelope) error {
		attempts.Add(1)
		return errors.New("database on fire")
	}, inbox.Config{Name: "t", Topics: []string{envelope.TopicOf("intake")}, MaxAttempts: 3, Poison: bus})
	appendEvent(t, context.Background(), st)
	select {
	case m := <-poisoned:
		if !strings.Contains(m.Metadata.Get(middleware.ReasonForPoisonedKey), "database on fire") ||
			m.Metadata.Get(middleware.PoisonedHandlerKey) != "t@"+envelope.TopicOf("intake") {
			t.Fatalf("poison metadata %v", m.Metadata)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing on the poison topic")
	}
	if n := attempts.Load(); n != 3 {
		t.Fatalf("attempts = %d, want 3", n)
	}
}
