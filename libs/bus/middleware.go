// Package bus wires Watermill for ringback: W3C trace context through
// message metadata, bounded retries, the poison topic, and a router that
// applies them in the right order. The adapters live below it: kafka
// (distributed mode) and inproc (single node).
//
// It must not import services, domain packages or the adapters: a service
// picks an adapter in its wiring and hands it to NewRouter.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// PoisonTopic collects the messages no handler could process, with the
// reason in metadata (middleware.ReasonForPoisonedKey and its siblings).
const PoisonTopic = "ringback.poison"

// tracerName is the instrumentation scope of the consumer spans.
const tracerName = "github.com/ringback/ringback/libs/bus"

// traceContext is W3C Trace Context only, not the process's global
// propagator: the wire format is part of the bus contract (traceparent and
// tracestate in metadata, Kafka headers), whatever else a process sets up.
var traceContext propagation.TraceContext

// MetadataCarrier lets OpenTelemetry propagators read and write Watermill
// message metadata.
type MetadataCarrier message.Metadata

var _ propagation.TextMapCarrier = MetadataCarrier(nil)

// Get returns the value of key, or "".
func (c MetadataCarrier) Get(key string) string { return c[key] }

// Set sets key. The carrier must not be nil.
func (c MetadataCarrier) Set(key, value string) { c[key] = value }

// Keys lists the keys present.
func (c MetadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// InjectTrace writes the span context of ctx into msg's metadata as W3C
// traceparent and tracestate, so the consumer's span continues the trace.
// Without a valid span context in ctx it writes nothing.
func InjectTrace(ctx context.Context, msg *message.Message) {
	if msg.Metadata == nil {
		msg.Metadata = make(message.Metadata)
	}
	traceContext.Inject(ctx, MetadataCarrier(msg.Metadata))
}

// ExtractTrace returns ctx with the remote span context found in msg's
// metadata, or ctx unchanged if there is none.
func ExtractTrace(ctx context.Context, msg *message.Message) context.Context {
	return traceContext.Extract(ctx, MetadataCarrier(msg.Metadata))
}

// Trace returns a middleware that runs the handler in a consumer span, child
// of the producer's span found in the message's metadata, and puts the span
// in the message's context. A handler error marks the span failed. Messages
// the handler returns carry the span's trace context.
func Trace(tp trace.TracerProvider) message.HandlerMiddleware {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	tracer := tp.Tracer(tracerName)
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			topic := message.SubscribeTopicFromCtx(msg.Context())
			ctx, span := tracer.Start(ExtractTrace(msg.Context(), msg), "process "+topic,
				trace.WithSpanKind(trace.SpanKindConsumer))
			defer span.End()
			// Set only on a span that records: unsampled (no exporter), the
			// attributes were built for nothing on every message, 3 % of
			// what the thin path allocated. The sampler does not read them.
			if span.IsRecording() {
				span.SetAttributes(
					semconv.MessagingOperationTypeProcess,
					semconv.MessagingOperationName("process"),
					semconv.MessagingDestinationName(topic),
					semconv.MessagingMessageID(msg.UUID),
				)
			}

			msg.SetContext(ctx)
			produced, err := h(msg)
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			for _, p := range produced {
				InjectTrace(ctx, p)
			}
			return produced, err
		}
	}
}

// RetryConfig bounds the retries of a failing handler: exponential backoff
// from InitialInterval, multiplied by Multiplier up to MaxInterval, at most
// MaxRetries times and for at most MaxElapsedTime. Zero values take the
// defaults in brackets.
type RetryConfig struct {
	MaxRetries      int           // [5]
	InitialInterval time.Duration // [100ms]
	MaxInterval     time.Duration // [5s]
	Multiplier      float64       // [2]
	MaxElapsedTime  time.Duration // [30s] keeps one message from holding its partition for long
}

func (c RetryConfig) withDefaults() RetryConfig {
	if c.MaxRetries <= 0 {
		c.MaxRetries = 5
	}
	if c.InitialInterval <= 0 {
		c.InitialInterval = 100 * time.Millisecond
	}
	if c.MaxInterval <= 0 {
		c.MaxInterval = 5 * time.Second
	}
	if c.Multiplier < 1 {
		c.Multiplier = 2
	}
	if c.MaxElapsedTime <= 0 {
		c.MaxElapsedTime = 30 * time.Second
	}
	return c
}

// Poison returns Watermill's poison-queue middleware publishing to topic: a
// message whose handler still fails is published there, with the reason,
// handler and source topic in metadata, and acked, so the consumer goes on.
// A failure caused by shutdown (context cancelled or expired) is not poison:
// the message is nacked and delivered again after the restart.
func Poison(pub message.Publisher, topic string) (message.HandlerMiddleware, error) {
	m, err := middleware.PoisonQueueWithFilter(pub, topic, func(err error) bool { return !isShutdown(err) })
	if err != nil {
		return nil, fmt.Errorf("poison queue %q: %w", topic, err)
	}
	return m, nil
}

func isShutdown(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// RouterConfig configures NewRouter. Zero values take the defaults.
type RouterConfig struct {
	// CloseTimeout is how long Router.Close waits for handlers in flight.
	// Default 30s.
	CloseTimeout time.Duration
	// Retry bounds the retries before a message is poison.
	Retry RetryConfig
	// PoisonTopic receives the messages that exhausted their retries.
	// Default PoisonTopic.
	PoisonTopic string
	// TracerProvider makes the consumer spans. Nil makes none.
	TracerProvider trace.TracerProvider
	// Registerer receives the handler metrics: latency, retries and
	// poisoned messages. Routers of one process may share it. Nil
	// registers nothing.
	Registerer prometheus.Registerer
	// SentAt reads from a message when its event was stored, for the
	// delivery delay and consumer lag metrics. Nil measures neither.
	SentAt func(*message.Message) (time.Time, bool)
	// Skip, when set, says a message is of no interest to its handler:
	// it is acknowledged once measured (so the lag metrics still follow
	// the topic), with no span, no retry and no decode. For a consumer
	// that reads a busy topic for one kind of event.
	Skip func(*message.Message) bool
	// Open, when set, turns a kept message's payload into what its
	// handler reads (personal data opened). It runs after Skip, so a
	// message no handler wants is never opened, and outside the retries
	// and the poison queue: a message that cannot be opened now is left
	// for redelivery, never set aside unopened.
	Open func(*message.Message) error
}

// NewRouter returns a Watermill router with ringback's middleware, outermost
// first:
//
//   - metrics: the time of each message through everything below, and
//     whether it was handled, poisoned or left for redelivery;
//   - Skip (RouterConfig.Skip): a message the handler does not want is
//     acknowledged here;
//   - Open (RouterConfig.Open): a kept message is opened here, or left
//     for redelivery;
//   - CorrelationID copies the correlation id to produced messages;
//   - poison queue: what still fails below is published to the poison topic
//     on poison and acked, so one bad message does not stop the consumer;
//     its metadata is copied first (ownMetadataOnError), as the other
//     groups that received it may be reading it;
//   - Trace: one consumer span per message, covering every attempt, failed
//     if the last attempt failed;
//   - Retry: bounded exponential backoff, each retry counted;
//   - Recoverer, innermost, so a panicking handler is an error that is
//     retried and finally poisoned like any other.
//
// Handlers are added by the caller; Run and Close are the router's. poison
// may be the in-process bus: publishing there from a handler waits for the
// groups that read the poison topic, so those must not wait on this router.
func NewRouter(cfg RouterConfig, logger watermill.LoggerAdapter, poison message.Publisher) (*message.Router, error) {
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	if poison == nil {
		return nil, errors.New("new router: no poison publisher")
	}
	if cfg.PoisonTopic == "" {
		cfg.PoisonTopic = PoisonTopic
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("new router: %w", err)
	}
	m.sentAt = cfg.SentAt
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.CloseTimeout}, logger)
	if err != nil {
		return nil, fmt.Errorf("new router: %w", err)
	}
	poisonMiddleware, err := Poison(poisonPublisher{poison, m, time.Now}, cfg.PoisonTopic)
	if err != nil {
		return nil, fmt.Errorf("new router: %w", err)
	}
	r.AddMiddleware(
		m.measure,
		skip(cfg.Skip),
		opening(cfg.Open),
		middleware.CorrelationID,
		poisonMiddleware,
		ownMetadataOnError,
		Trace(cfg.TracerProvider),
		retry(cfg.Retry, logger, m.retried),
		middleware.Recoverer,
	)
	return r, nil
}

// ownMetadataOnError gives a message whose handler failed metadata of its
// own, for the poison queue to write the reason into: a consumed message
// shares its metadata with the other groups that received it (the
// in-process bus), and they read it at the same time.
func ownMetadataOnError(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if err != nil {
			msg.Metadata = maps.Clone(msg.Metadata)
		}
		return out, err
	}
}

// skip acknowledges the messages want says nothing of; nil skips none.
func skip(want func(*message.Message) bool) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		if want == nil {
			return h
		}
		return func(m *message.Message) ([]*message.Message, error) {
			if want(m) {
				return nil, nil
			}
			return h(m)
		}
	}
}

// opening opens each message before the handlers below see it; nil opens
// none.
func opening(open func(*message.Message) error) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		if open == nil {
			return h
		}
		return func(m *message.Message) ([]*message.Message, error) {
			if err := open(m); err != nil {
				return nil, fmt.Errorf("open message %s: %w", m.UUID, err)
			}
			return h(m)
		}
	}
}

// Slog adapts a slog logger to Watermill's logger interface (Watermill's
// Trace level maps below slog's Debug). A message below the logger's level
// costs nothing: Watermill's own adapter turned every message's fields into
// attributes first, and its router logs each message handled at Trace
// (2 % of the platform's CPU per callback in the thin-path benchmark).
func Slog(logger *slog.Logger) watermill.LoggerAdapter {
	if logger == nil {
		logger = slog.Default()
	}
	return leveled{watermill.NewSlogLogger(logger), logger}
}

// leveled drops the messages its logger would drop before they are built.
type leveled struct {
	watermill.LoggerAdapter
	log *slog.Logger
}

func (l leveled) Info(msg string, fields watermill.LogFields) {
	if l.log.Enabled(context.Background(), slog.LevelInfo) {
		l.LoggerAdapter.Info(msg, fields)
	}
}

func (l leveled) Debug(msg string, fields watermill.LogFields) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.LoggerAdapter.Debug(msg, fields)
	}
}

func (l leveled) Trace(msg string, fields watermill.LogFields) {
	if l.log.Enabled(context.Background(), watermill.LevelTrace) {
		l.LoggerAdapter.Trace(msg, fields)
	}
}

// With keeps the fields on both loggers, so that a level check sees the
// handler the fields name.
func (l leveled) With(fields watermill.LogFields) watermill.LoggerAdapter {
	args := make([]any, 0, 2*len(fields))
	for k, v := range fields {
		args = append(args, k, v)
	}
	return leveled{l.LoggerAdapter.With(fields), l.log.With(args...)}
}
