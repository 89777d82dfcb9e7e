package bus_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ringback/ringback/libs/bus"
	"github.com/ringback/ringback/libs/bus/inproc"
)

const (
	topic   = "ringback.test"
	handler = "test-handler"
	wait    = 5 * time.Second
)

var fastRetry = bus.RetryConfig{MaxRetries: 3, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond}

// env is a router with ringback's middleware on the in-process bus, and a
// reader of the poison topic.
type env struct {
	bus    *inproc.Bus
	poison <-chan *message.Message
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reg    *prometheus.Registry
}

func start(t *testing.T, h message.NoPublishHandlerFunc) *env {
	t.Helper()
	b := inproc.New(watermill.NopLogger{})
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reg := prometheus.NewRegistry()
	r, err := bus.NewRouter(bus.RouterConfig{Retry: fastRetry, TracerProvider: tp, CloseTimeout: time.Second, Registerer: reg}, watermill.NopLogger{}, b)
	if err != nil {
		t.Fatal(err)
	}
	r.AddConsumerHandler(handler, topic, b.Subscriber(handler), h)
	return &env{bus: b, poison: run(t, r, b), spans: spans, tp: tp, reg: reg}
}

// run runs r on b until the test ends, and reads b's poison topic.
func run(t *testing.T, r *message.Router, b *inproc.Bus) <-chan *message.Message {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	poison, err := b.Subscriber("poison-reader").Subscribe(ctx, bus.PoisonTopic)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("router: %v", err)
		}
		_ = b.Close()
	})
	select {
	case <-r.Running():
	case <-time.After(wait):
		t.Fatal("router not running")
	}
	return poison
}

// publish returns once the handler's group acked msg (in-process Publish).
func (e *env) publish(t *testing.T, msg *message.Message) {
	t.Helper()
	e.acked(t, e.publishAsync(msg))
}

// publishAsync publishes in the background: a handler that poisons msg
// waits, inside the in-process Publish, for the poison reader's ack.
func (e *env) publishAsync(msg *message.Message) <-chan error {
	done := make(chan error, 1)
	go func() { done <- e.bus.Publish(topic, msg) }()
	return done
}

func (e *env) acked(t *testing.T, published <-chan error) {
	t.Helper()
	select {
	case err := <-published:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatal("message not acked")
	}
}

func (e *env) poisoned(t *testing.T) *message.Message {
	t.Helper()
	select {
	case m := <-e.poison:
		m.Ack()
		return m
	case <-time.After(wait):
		t.Fatal("nothing on the poison topic")
	}
	return nil
}

func (e *env) noPoison(t *testing.T) {
	t.Helper()
	select {
	case m := <-e.poison:
		t.Fatalf("poisoned %s: %s", m.UUID, m.Metadata.Get(middleware.ReasonForPoisonedKey))
	case <-time.After(50 * time.Millisecond):
	}
}

func TestRetryUntilSuccess(t *testing.T) {
	var calls atomic.Int32
	e := start(t, func(*message.Message) error {
		if calls.Add(1) <= 2 {
			return errors.New("not yet")
		}
		return nil
	})
	e.publish(t, message.NewMessage("m1", nil))
	if n := calls.Load(); n != 3 {
		t.Fatalf("handler ran %d times, want 3", n)
	}
	e.noPoison(t)
}

func TestPoisonAfterRetriesAndGoOn(t *testing.T) {
	var calls atomic.Int32
	e := start(t, func(msg *message.Message) error {
		calls.Add(1)
		if msg.UUID == "bad" {
			return errors.New("cannot apply event")
		}
		return nil
	})

	published := e.publishAsync(message.NewMessage("bad", []byte("payload")))
	p := e.poisoned(t)
	e.acked(t, published)
	if n := calls.Load(); n != int32(fastRetry.MaxRetries+1) {
		t.Fatalf("handler ran %d times, want %d", n, fastRetry.MaxRetries+1)
	}
	if p.UUID != "bad" || string(p.Payload) != "payload" {
		t.Fatalf("poisoned %s %q", p.UUID, p.Payload)
	}
	for key, want := range map[string]string{
		middleware.ReasonForPoisonedKey: "cannot apply event",
		middleware.PoisonedTopicKey:     topic,
		middleware.PoisonedHandlerKey:   handler,
	} {
		if got := p.Metadata.Get(key); got != want {
			t.Errorf("metadata %s = %q, want %q", key, got, want)
		}
	}

	// The consumer goes on with the next message.
	e.publish(t, message.NewMessage("good", nil))
	if n := calls.Load(); n != int32(fastRetry.MaxRetries+2) {
		t.Fatalf("handler ran %d times, want %d", n, fastRetry.MaxRetries+2)
	}
	e.noPoison(t)

	spans := e.spans.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want one per message", len(spans))
	}
	if s := spans[0]; s.Status().Code != codes.Error || s.Status().Description != "cannot apply event" {
		t.Errorf("span of the poisoned message: status %v", s.Status())
	}
	if s := spans[1]; s.Status().Code == codes.Error {
		t.Errorf("span of the good message: status %v", s.Status())
	}
}

// A panic is an error like any other: retried, then poisoned.
func TestPanicIsPoisoned(t *testing.T) {
	e := start(t, func(*message.Message) error { panic("boom") })
	published := e.publishAsync(message.NewMessage("m1", nil))
	if reason := e.poisoned(t).Metadata.Get(middleware.ReasonForPoisonedKey); !strings.Contains(reason, "boom") {
		t.Fatalf("reason %q", reason)
	}
	e.acked(t, published)
}

// A handler that fails because its context ended (shutdown) is neither
// retried nor poisoned: the message is nacked for redelivery.
func TestShutdownIsNotPoison(t *testing.T) {
	b := inproc.New(watermill.NopLogger{})
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	poison, _ := b.Subscriber("poison-reader").Subscribe(ctx, bus.PoisonTopic)

	pq, err := bus.Poison(b, bus.PoisonTopic)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	h := pq(bus.Retry(fastRetry, nil)(func(msg *message.Message) ([]*message.Message, error) {
		calls.Add(1)
		return nil, msg.Context().Err()
	}))

	msgCtx, stop := context.WithCancel(context.Background())
	stop()
	msg := message.NewMessage("m1", nil)
	msg.SetContext(msgCtx)
	done := make(chan error, 1)
	go func() {
		_, err := h(msg)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("handler chain returned %v, want context.Canceled", err)
		}
	case m := <-poison:
		t.Fatalf("poisoned on shutdown: %s", m.Metadata.Get(middleware.ReasonForPoisonedKey))
	case <-time.After(wait):
		t.Fatal("handler chain hung")
	}
	if n := calls.Load(); n > 1 {
		t.Errorf("retried %d times on shutdown", n-1)
	}
}

// The consumer span continues the producer's trace across the bus.
func TestTraceCrossesTheBus(t *testing.T) {
	var handlerSpan atomic.Value
	e := start(t, func(msg *message.Message) error {
		handlerSpan.Store(trace.SpanContextFromContext(msg.Context()))
		return nil
	})

	ctx, producer := e.tp.Tracer("producer").Start(context.Background(), "append")
	msg := message.NewMessage("m1", nil)
	bus.InjectTrace(ctx, msg)
	producer.End()
	if msg.Metadata.Get("traceparent") == "" {
		t.Fatal("no traceparent in metadata")
	}
	e.publish(t, msg)

	got, _ := handlerSpan.Load().(trace.SpanContext)
	if got.TraceID() != producer.SpanContext().TraceID() {
		t.Fatalf("handler trace %s, producer trace %s", got.TraceID(), producer.SpanContext().TraceID())
	}
	var consumer sdktrace.ReadOnlySpan
	for _, s := range e.spans.Ended() {
		if s.SpanContext().SpanID() == got.SpanID() {
			consumer = s
		}
	}
	if consumer == nil {
		t.Fatal("the handler's span was not recorded")
	}
	if consumer.Parent().SpanID() != producer.SpanContext().SpanID() || !consumer.Parent().IsRemote() {
		t.Errorf("consumer span parent %v, want the producer's span, remote", consumer.Parent())
	}
	if consumer.SpanKind() != trace.SpanKindConsumer || consumer.Name() != "process "+topic {
		t.Errorf("consumer span %q kind %v", consumer.Name(), consumer.SpanKind())
	}
	attrs := map[attribute.Key]string{}
	for _, kv := range consumer.Attributes() {
		attrs[kv.Key] = kv.Value.String()
	}
	if attrs["messaging.destination.name"] != topic || attrs["messaging.message.id"] != "m1" || attrs["messaging.operation.name"] != "process" {
		t.Errorf("consumer span attributes %v", attrs)
	}
}

func TestInjectWithoutSpanWritesNothing(t *testing.T) {
	msg := message.NewMessage("m1", nil)
	msg.Metadata = nil
	bus.InjectTrace(context.Background(), msg)
	if len(msg.Metadata) != 0 {
		t.Fatalf("metadata %v", msg.Metadata)
	}
	if ctx := bus.ExtractTrace(context.Background(), msg); trace.SpanContextFromContext(ctx).IsValid() {
		t.Fatal("extracted a span context from nothing")
	}
}

func TestNewRouterNeedsPoisonPublisher(t *testing.T) {
	if _, err := bus.NewRouter(bus.RouterConfig{}, nil, nil); err == nil {
		t.Fatal("want error")
	}
}

func TestSlog(t *testing.T) {
	var buf bytes.Buffer
	logger := bus.Slog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	logger.With(watermill.LogFields{"topic": topic}).Error("publish failed", errors.New("broker down"), nil)
	if out := buf.String(); !strings.Contains(out, "publish failed") || !strings.Contains(out, "broker down") || !strings.Contains(out, topic) {
		t.Fatalf("log line %q", out)
	}
}

// Retries, poisoned messages and handler latency are counted per handler
// and topic; a poisoned message says when it was set aside.
func TestMetrics(t *testing.T) {
	var calls atomic.Int32
	e := start(t, func(msg *message.Message) error {
		if msg.UUID == "bad" {
			return errors.New("cannot apply event")
		}
		if calls.Add(1) <= 2 {
			return errors.New("transient")
		}
		return nil
	})
	e.publish(t, message.NewMessage("flaky", nil))
	published := e.publishAsync(message.NewMessage("bad", nil))
	p := e.poisoned(t)
	e.acked(t, published)
	if at, err := time.Parse(time.RFC3339Nano, p.Metadata.Get(bus.PoisonedAtKey)); err != nil || time.Since(at) > time.Minute {
		t.Errorf("poisoned at %q (%v)", p.Metadata.Get(bus.PoisonedAtKey), err)
	}

	want := `
# HELP ringback_bus_handler_retries_total Handler attempts that were retries of a failed attempt.
# TYPE ringback_bus_handler_retries_total counter
ringback_bus_handler_retries_total{handler="test-handler",topic="ringback.test"} 5
# HELP ringback_bus_poisoned_total Messages set aside on the poison topic after their handler exhausted its retries; see ` + "`ringback poison list`" + `.
# TYPE ringback_bus_poisoned_total counter
ringback_bus_poisoned_total{handler="test-handler",topic="ringback.test"} 1
`
	// 2 retries of "flaky", 3 of "bad".
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(want), "ringback_bus_handler_retries_total", "ringback_bus_poisoned_total"); err != nil {
		t.Error(err)
	}
	outcomes := map[string]uint64{}
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "ringback_bus_handler_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					outcomes[l.GetValue()] += m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	if outcomes["ok"] != 1 || outcomes["poisoned"] != 1 {
		t.Errorf("handler outcomes %v, want ok 1 and poisoned 1", outcomes)
	}
}

// Retries stop when the next pause would pass MaxElapsedTime, and a pause
// ends with the message's context.
func TestRetryIsBounded(t *testing.T) {
	calls := 0
	failing := func(*message.Message) ([]*message.Message, error) {
		calls++
		return nil, errors.New("no")
	}
	h := bus.Retry(bus.RetryConfig{MaxRetries: 1000, InitialInterval: 5 * time.Millisecond, MaxInterval: 5 * time.Millisecond,
		Multiplier: 1, MaxElapsedTime: 60 * time.Millisecond}, nil)(failing)
	if _, err := h(message.NewMessage("m1", nil)); err == nil || err.Error() != "no" {
		t.Fatalf("err %v, want the handler's last", err)
	}
	// Each pause is 4 to 6 ms: at least one retry fits in 60 ms, at most 15.
	if calls < 2 || calls > 16 {
		t.Errorf("%d attempts within 60 ms of 5 ms pauses", calls)
	}

	calls = 0
	h = bus.Retry(bus.RetryConfig{InitialInterval: time.Hour, MaxInterval: time.Hour, MaxElapsedTime: 2 * time.Hour}, nil)(failing)
	ctx, cancel := context.WithCancel(context.Background())
	msg := message.NewMessage("m2", nil)
	msg.SetContext(ctx)
	time.AfterFunc(20*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() { _, err := h(msg); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || calls != 1 {
			t.Fatalf("err %v after %d attempts, want context.Canceled after 1", err, calls)
		}
	case <-time.After(wait):
		t.Fatal("the pause outlived the message's context")
	}
}
