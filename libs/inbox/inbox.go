// Package inbox is how a service consumes the bus: a Watermill router (see
// bus.NewRouter) reads each topic as the service's consumer group, decodes
// every message into an Envelope and hands it to the service's handler
// inside a span that continues the producer's trace; a failing handler is
// retried with backoff, then the message is set aside on the poison topic;
// a message is acknowledged only after its handler's effects are stored.
// Idempotency is the handler's: its writes derive event ids from the
// message's event id.
package inbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"go.opentelemetry.io/otel"

	"github.com/ringback/ringback/libs/bus"
	"github.com/ringback/ringback/libs/envelope"
)

// Handler applies one event. Returning an error means "try again"; a
// business rejection (the event no longer applies) is not an error.
type Handler func(ctx context.Context, e envelope.Envelope) error

// Subscribers makes a subscriber reading as one consumer group: on Kafka
// each group gets every message once; in process, each group is a fan-out.
type Subscribers func(group string) (message.Subscriber, error)

// PoisonPublisher is implemented by a subscriber that also knows where
// poison goes, so a process wires the poison topic once for all services.
type PoisonPublisher interface {
	PoisonPublisher() message.Publisher
}

// MetricsRegisterer is implemented by a subscriber that also knows where
// handler metrics go, so a process wires its registry once for all
// services, as with PoisonPublisher.
type MetricsRegisterer interface {
	MetricsRegisterer() prometheus.Registerer
}

// PoisonTopic collects the messages no handler could apply.
const PoisonTopic = bus.PoisonTopic

// Config of one consumer.
type Config struct {
	Name   string   // handler name, also the consumer group; never renamed
	Topics []string // topics to read
	// MaxAttempts before a message is set aside as poison (default 10).
	MaxAttempts int
	// Poison receives messages that failed MaxAttempts times, on
	// PoisonTopic, with the reason in metadata. When neither it nor the
	// subscriber (PoisonPublisher) names one, they are logged and dropped.
	Poison message.Publisher
	// Metrics receives the handler metrics (latency, retries, poisoned);
	// when nil, the subscriber's (MetricsRegisterer), if any.
	Metrics prometheus.Registerer
	Log     *slog.Logger
	// Only names, per topic, the event types (catalog.TypeName) the
	// handler acts on: the topic's other messages are acknowledged
	// without being decoded. A topic not named delivers every type. The
	// consumer's tests hold that the types left out change nothing
	// (OnlyLeavesOutNothingHandled).
	Only map[string][]string
}

// closeTimeout is how long a stopping consumer waits for its handlers.
const closeTimeout = 10 * time.Second

// Consume reads cfg.Topics as consumer group cfg.Name until ctx is done.
// Each topic is one router handler, so order holds within a topic (and, on
// Kafka, within a stream's partition).
func Consume(ctx context.Context, subs Subscribers, cfg Config, h Handler) error {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	sub, err := subs(cfg.Name)
	if err != nil {
		return fmt.Errorf("subscriber %s: %w", cfg.Name, err)
	}
	defer sub.Close()
	if p, ok := sub.(PoisonPublisher); ok && cfg.Poison == nil {
		cfg.Poison = p.PoisonPublisher()
	}
	if cfg.Poison == nil {
		cfg.Poison = logPoison{cfg.Log}
	}
	if m, ok := sub.(MetricsRegisterer); ok && cfg.Metrics == nil {
		cfg.Metrics = m.MetricsRegisterer()
	}
	if l, ok := sub.(Leaver); ok {
		for topic, leave := range leftOut(cfg.Only) {
			if err := l.LeaveOut(topic, leave); err != nil {
				if ctx.Err() != nil {
					return nil // stopping as it starts: the bus closed first
				}
				return fmt.Errorf("%s: leave out of %s: %w", cfg.Name, topic, err)
			}
		}
	}
	router, err := bus.NewRouter(bus.RouterConfig{
		CloseTimeout: closeTimeout,
		// The process's provider (telemetry.New installs it), so consumer
		// spans are exported with the rest.
		TracerProvider: otel.GetTracerProvider(),
		Retry: bus.RetryConfig{MaxRetries: cfg.MaxAttempts - 1, InitialInterval: 20 * time.Millisecond,
			MaxInterval: 2 * time.Second, MaxElapsedTime: time.Minute},
		Registerer: cfg.Metrics,
		SentAt:     sentAt,
		Skip:       unwanted(cfg.Only),
		Open:       openerOf(sub),
	}, bus.Slog(cfg.Log.With("handler", cfg.Name)), cfg.Poison)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Name, err)
	}
	w := newWorkers(h)
	// After Run, which waited closeTimeout for its handlers: the workers
	// are idle then, unless one is stuck in a handler, and waiting longer
	// for that one would only hold up the process's stop.
	defer w.close(time.Second)
	for _, topic := range cfg.Topics {
		router.AddConsumerHandler(cfg.Name+"@"+topic, topic, sub, func(m *message.Message) error {
			env, err := envelope.FromMessage(m)
			if err != nil {
				// Another version's event type: nothing this binary can do with it.
				cfg.Log.Warn("skipping undecodable message", "handler", cfg.Name, "topic", topic, "err", err)
				return nil
			}
			return w.handle(m.Context(), env)
		})
	}
	err = router.Run(ctx)
	switch {
	case ctx.Err() != nil:
		if err != nil && !errors.Is(err, context.Canceled) {
			// Stopping while the router still subscribed: the bus closing
			// under it is the stop, not a failure of this consumer.
			cfg.Log.Debug("consumer stopped while starting", "handler", cfg.Name, "err", err)
		}
		return nil
	case err == nil, errors.Is(err, context.Canceled):
		// Every subscription ended by itself (a subscriber closed its
		// messages): a consumer that quietly stopped consuming would leave
		// its service up and deaf, so it is a failure, for its caller to
		// restart.
		return fmt.Errorf("%s: %w", cfg.Name, ErrStopped)
	}
	return fmt.Errorf("%s: %w", cfg.Name, err)
}

// ErrStopped is a consumer that stopped consuming while not told to.
var ErrStopped = errors.New("the consumer stopped by itself")

// Opener is a subscriber whose messages come with their personal data
// sealed (personal.Sealer.OpenMessage): Consume opens only those its Only keeps,
// so a consumer pays nothing for the events it does not read.
type Opener interface {
	Open(*message.Message) error
}

func openerOf(sub message.Subscriber) func(*message.Message) error {
	if o, ok := sub.(Opener); ok {
		return o.Open
	}
	return nil
}

// Leaver is a subscriber that can leave a topic's messages out before
// they are delivered (inproc.Subscriber.LeaveOut): Consume gives it what
// Config.Only leaves out, so they cost the consumer nothing at all. The
// router's Skip still leaves them out on a subscriber that cannot.
type Leaver interface {
	LeaveOut(topic string, leave func(eventType string) bool) error
}

// leftOut is, per topic Config.Only names, the event types it leaves out.
func leftOut(only map[string][]string) map[string]func(string) bool {
	out := make(map[string]func(string) bool, len(only))
	for topic, types := range only {
		keep := make(map[string]bool, len(types))
		for _, t := range types {
			keep[t] = true
		}
		out[topic] = func(typ string) bool { return !keep[typ] }
	}
	return out
}

// unwanted says which messages Config.Only leaves out; nil for none.
func unwanted(only map[string][]string) func(*message.Message) bool {
	if len(only) == 0 {
		return nil
	}
	wanted := make(map[string]map[string]bool, len(only))
	for topic, types := range only {
		wanted[topic] = make(map[string]bool, len(types))
		for _, t := range types {
			wanted[topic][t] = true
		}
	}
	return func(m *message.Message) bool {
		types, ok := wanted[message.SubscribeTopicFromCtx(m.Context())]
		return ok && !types[m.Metadata.Get(envelope.KeyType)]
	}
}

// sentAt is when the store accepted a message's event (its CloudEvents
// time), from which the bus metrics measure delivery delay and lag.
func sentAt(m *message.Message) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, m.Metadata.Get(envelope.KeyTime))
	return t, err == nil
}

// logPoison is where poison goes when no topic is wired: the log.
type logPoison struct{ log *slog.Logger }

func (p logPoison) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		p.log.Error("handler gave up; message dropped", "message", m.UUID, "type", m.Metadata.Get(envelope.KeyType),
			"reason", m.Metadata.Get(middleware.ReasonForPoisonedKey), "handler", m.Metadata.Get(middleware.PoisonedHandlerKey))
	}
	return nil
}

func (logPoison) Close() error { return nil }
