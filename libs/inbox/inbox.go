// Package inbox is how a service consumes the bus: every message of the
// topics it reads is decoded, handled inside a span that continues the
// producer's trace, retried while the handler fails, and acknowledged only
// after the handler's effects are stored. Idempotency is the handler's (its
// writes derive event ids from the message's event id).
package inbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/ringback/ringback/libs/envelope"
)

// Handler applies one event. Returning an error means "try again"; a
// business rejection (the event no longer applies) is not an error.
type Handler func(ctx context.Context, e envelope.Envelope) error

// Config of one consumer.
type Config struct {
	Name   string   // handler name, also the consumer group; never renamed
	Topics []string // topics to read
	// MaxAttempts before a message is set aside as poison.
	MaxAttempts int
	// Poison, when set, receives messages that failed MaxAttempts times, on
	// PoisonTopic, with the reason in metadata.
	Poison message.Publisher
	Log    *slog.Logger
}

// PoisonPublisher is implemented by a subscriber that also knows where
// poison goes, so a process wires the poison topic once for all services.
type PoisonPublisher interface {
	PoisonPublisher() message.Publisher
}

// PoisonTopic collects the messages no handler could apply.
const PoisonTopic = "ringback.poison"

// Subscribers makes a subscriber reading as one consumer group: on Kafka
// each group gets every message once; in process, each group is a fan-out.
type Subscribers func(group string) (message.Subscriber, error)

// Consume reads cfg.Topics as consumer group cfg.Name until ctx is done. Each topic is read by
// its own goroutine, so order holds within a topic (and, on Kafka, within a
// stream's partition).
func Consume(ctx context.Context, subs Subscribers, cfg Config, h Handler) error {
	if cfg.MaxAttempts == 0 {
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
	tracer := otel.Tracer("ringback/inbox")
	var wg sync.WaitGroup
	errs := make(chan error, len(cfg.Topics))
	for _, topic := range cfg.Topics {
		msgs, err := sub.Subscribe(ctx, topic)
		if err != nil {
			return fmt.Errorf("subscribe %s as %s: %w", topic, cfg.Name, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range msgs {
				handle(ctx, tracer, cfg, topic, m, h)
			}
			if ctx.Err() == nil {
				errs <- fmt.Errorf("%s: subscription to %s ended", cfg.Name, topic)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return nil
}

func handle(ctx context.Context, tracer trace.Tracer, cfg Config, topic string, m *message.Message, h Handler) {
	env, err := envelope.FromMessage(m)
	if err != nil {
		// Another version's event type: nothing this binary can do with it.
		cfg.Log.Warn("skipping undecodable message", "handler", cfg.Name, "topic", topic, "err", err)
		m.Ack()
		return
	}
	mctx := envelope.Context(ctx, m)
	backoff := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		sctx, span := tracer.Start(mctx, "consume "+env.Type, trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attribute.String("messaging.destination.name", topic),
				attribute.String("messaging.message.id", env.ID),
				attribute.String("ringback.handler", cfg.Name)))
		err = h(sctx, env)
		if err != nil {
			span.RecordError(err)
		}
		span.End()
		if err == nil {
			m.Ack()
			return
		}
		if ctx.Err() != nil || errors.Is(err, context.Canceled) {
			m.Nack()
			return
		}
		if attempt >= cfg.MaxAttempts {
			cfg.Log.Error("handler gave up; message set aside", "handler", cfg.Name, "type", env.Type, "event", env.ID, "err", err)
			if cfg.Poison != nil {
				p := m.Copy()
				p.Metadata.Set("poison_reason", err.Error())
				p.Metadata.Set("poison_handler", cfg.Name)
				p.Metadata.Set("poison_topic", topic)
				if perr := cfg.Poison.Publish(PoisonTopic, p); perr != nil {
					cfg.Log.Error("poison publish failed", "err", perr)
					m.Nack()
					return
				}
			}
			m.Ack()
			return
		}
		cfg.Log.Warn("handler failed, retrying", "handler", cfg.Name, "type", env.Type, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			m.Nack()
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}
