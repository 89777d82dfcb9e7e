package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// PublisherConfig configures a Publisher. Zero values take the documented
// defaults.
type PublisherConfig struct {
	// Brokers are bootstrap addresses (host:port). Required.
	Brokers []string

	// Partitions is the partition count of topics created on first publish.
	// Default DefaultPartitions. Existing topics are left as they are.
	Partitions int
	// ReplicationFactor of topics created on first publish. Default -1, the
	// broker's default.replication.factor.
	ReplicationFactor int

	// BatchTimeout is how long a write waits for more records to share its
	// produce request. Default 2ms: kafka-go's default of 1s would make every
	// synchronous Publish last a second.
	BatchTimeout time.Duration
	// PublishTimeout bounds one Publish call, retries included. Default 30s.
	PublishTimeout time.Duration

	// TLS, when set, encrypts every connection to the brokers (see
	// TLSConfig). Nil is plaintext.
	TLS *tls.Config
	// SASL, when set, authenticates every connection (see SASLMechanism).
	SASL sasl.Mechanism
}

func (c *PublisherConfig) setDefaults() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka publisher: no brokers")
	}
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = 2 * time.Millisecond
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 30 * time.Second
	}
	return nil
}

// Publisher is a synchronous Watermill publisher: Publish returns after
// every in-sync replica has acknowledged the records, so a caller such as
// the outbox relay may checkpoint as soon as it returns.
//
// It is safe for concurrent use; concurrent Publish calls share produce
// requests. Close waits for Publish calls in flight.
type Publisher struct {
	cfg    PublisherConfig
	logger watermill.LoggerAdapter

	writer        *kafkago.Writer
	client        *kafkago.Client
	topics        *topicCreator
	stopTransport context.CancelFunc

	// mu is held shared by Publish and exclusively by Close, so Close waits
	// for publishes in flight and none starts afterwards.
	mu     sync.RWMutex
	closed bool
}

var _ message.Publisher = (*Publisher)(nil)

// NewPublisher returns a Publisher. It does not connect: the first Publish
// does, and reports broker errors.
func NewPublisher(cfg PublisherConfig, logger watermill.LoggerAdapter) (*Publisher, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	transport, stop := newTransport(cfg.TLS, cfg.SASL)
	info, errs := kafkaLoggers(logger)
	addr := kafkago.TCP(cfg.Brokers...)
	w := &kafkago.Writer{
		Addr: addr,
		// Murmur2 is the Java client's partitioner: other producers of the
		// same keys land on the same partitions.
		Balancer:     &kafkago.Murmur2Balancer{},
		RequiredAcks: kafkago.RequireAll,
		BatchTimeout: cfg.BatchTimeout,
		Transport:    transport,
		// Not for creation (topicCreator does that): with it set, kafka-go
		// asks the broker for a topic missing from its metadata cache
		// instead of failing until the cache expires, which matters when
		// another process created the topic moments ago.
		AllowAutoTopicCreation: true,
		Logger:                 info,
		ErrorLogger:            errs,
	}
	client := &kafkago.Client{Addr: addr, Transport: transport}
	return &Publisher{
		cfg:           cfg,
		logger:        logger.With(watermill.LogFields{"component": "kafka-publisher"}),
		writer:        w,
		client:        client,
		topics:        newTopicCreator(client, cfg.Partitions, cfg.ReplicationFactor),
		stopTransport: stop,
	}, nil
}

// Ping asks the cluster for its metadata: nil when a broker answers, for
// readiness probes.
func (p *Publisher) Ping(ctx context.Context) error {
	if _, err := p.client.Metadata(ctx, &kafkago.MetadataRequest{}); err != nil {
		return fmt.Errorf("kafka metadata: %w", err)
	}
	return nil
}

// Publish writes msgs to topic in order and returns once the broker has
// acknowledged all of them, or with the error of the first failure, in which
// case some of msgs may have been written. The topic is created on first use.
//
// Publish takes no context (Watermill's interface); it stops waiting when the
// first message's context is done or PublishTimeout passes, and then the
// records may still be written.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrPublisherClosed
	}
	if len(msgs) == 0 {
		return nil
	}

	ctx, cancel := context.WithTimeout(msgs[0].Context(), p.cfg.PublishTimeout)
	defer cancel()

	if err := p.topics.ensure(ctx, topic); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	records := make([]kafkago.Message, len(msgs))
	for i, msg := range msgs {
		records[i] = toKafka(topic, msg)
	}
	if err := p.writer.WriteMessages(ctx, records...); err != nil {
		return fmt.Errorf("publish %d message(s) to %s: %w", len(msgs), topic, err)
	}
	for _, msg := range msgs {
		p.logger.Trace("published", watermill.LogFields{"topic": topic, "message_uuid": msg.UUID})
	}
	return nil
}

// Close waits for Publish calls in flight, flushes and releases connections.
// Later calls return nil.
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	err := p.writer.Close()
	p.stopTransport()
	if err != nil {
		return fmt.Errorf("close kafka writer: %w", err)
	}
	return nil
}
