package bus

import (
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

// PoisonedAtKey is the metadata key, beside Watermill's reason, handler and
// topic keys, holding when a message was set aside (RFC 3339, UTC).
const PoisonedAtKey = "poisoned_at"

// metrics of the handlers of one process. Labels are handler names (the
// service's constant name and the topic) and topics: bounded by the code,
// never by traffic.
type metrics struct {
	handled  *prometheus.HistogramVec // handler, outcome
	retries  *prometheus.CounterVec   // handler, topic
	poisoned *prometheus.CounterVec   // handler, topic
	delay    *prometheus.HistogramVec // handler
	lag      *lagCollector            // handler

	// sentAt reads when a message was first stored or sent; nil when the
	// router's messages carry no such time (no delay or lag then).
	sentAt func(*message.Message) (time.Time, bool)
	now    func() time.Time
}

// newMetrics registers the handler metrics on reg, or finds them there when
// another router of the process registered them first. A nil reg keeps
// them unexported.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		handled: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ringback_bus_handler_seconds",
			Help: "Time to handle one bus message, every attempt and retry backoff included; outcome ok, poisoned (set aside on the poison topic) or error (left for redelivery, e.g. on shutdown).",
			// 1ms..~33s: one store append to a full retry budget.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"handler", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringback_bus_handler_retries_total",
			Help: "Handler attempts that were retries of a failed attempt.",
		}, []string{"handler", "topic"}),
		poisoned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringback_bus_poisoned_total",
			Help: "Messages set aside on the poison topic after their handler exhausted its retries; see `ringback poison list`.",
		}, []string{"handler", "topic"}),
		delay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ringback_bus_delivery_delay_seconds",
			Help: "Per message, from the store accepting its event to this consumer starting to handle it: relay, bus and the consumer's own backlog.",
			// 1ms..~65s: milliseconds when healthy, seconds to minutes
			// while a consumer catches up.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 17),
		}, []string{"handler"}),
		lag: newLagCollector(),
		now: time.Now,
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.handled, err = register(reg, m.handled); err != nil {
		return nil, err
	}
	if m.retries, err = register(reg, m.retries); err != nil {
		return nil, err
	}
	if m.poisoned, err = register(reg, m.poisoned); err != nil {
		return nil, err
	}
	if m.delay, err = register(reg, m.delay); err != nil {
		return nil, err
	}
	if m.lag, err = register(reg, m.lag); err != nil {
		return nil, err
	}
	return m, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("register bus metrics: %w", err)
	}
	return c, nil
}

// measure returns the outermost middleware: it times each message through
// the whole chain and tells poisoned messages from handled ones.
func (m *metrics) measure(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		start := time.Now()
		handler := message.HandlerNameFromCtx(msg.Context())
		if m.sentAt != nil {
			if at, ok := m.sentAt(msg); ok {
				m.delay.WithLabelValues(handler).Observe(max(0, m.now().Sub(at).Seconds()))
				done := m.lag.start(handler, at)
				defer done()
			}
		}
		produced, err := h(msg)
		outcome := "ok"
		switch {
		case err != nil:
			outcome = "error"
		case msg.Metadata.Get(middleware.ReasonForPoisonedKey) != "":
			// The poison middleware acks what it set aside: the handler
			// did not succeed.
			outcome = "poisoned"
		}
		m.handled.WithLabelValues(handler, outcome).Observe(time.Since(start).Seconds())
		return produced, err
	}
}

// retried counts an attempt of msg's handler after a failed one.
func (m *metrics) retried(msg *message.Message) {
	m.retries.WithLabelValues(message.HandlerNameFromCtx(msg.Context()), message.SubscribeTopicFromCtx(msg.Context())).Inc()
}

// poisonPublisher stamps a poisoned message with the time it was set aside
// and counts it once the poison topic has it.
type poisonPublisher struct {
	message.Publisher
	m   *metrics
	now func() time.Time
}

func (p poisonPublisher) Publish(topic string, msgs ...*message.Message) error {
	for _, msg := range msgs {
		msg.Metadata.Set(PoisonedAtKey, p.now().UTC().Format(time.RFC3339Nano))
	}
	if err := p.Publisher.Publish(topic, msgs...); err != nil {
		return err
	}
	for _, msg := range msgs {
		p.m.poisoned.WithLabelValues(msg.Metadata.Get(middleware.PoisonedHandlerKey), msg.Metadata.Get(middleware.PoisonedTopicKey)).Inc()
	}
	return nil
}
