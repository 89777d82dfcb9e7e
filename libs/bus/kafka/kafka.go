// Package kafka is the distributed bus: a Watermill message.Publisher and
// message.Subscriber on Kafka through segmentio/kafka-go, so the platform has
// one Kafka client (Watermill's own Kafka adapter is built on Sarama).
//
// Delivery is at least once. The publisher waits for every in-sync replica
// to acknowledge (kafka-go's Writer defaults to fire and forget); it has no
// idempotent producer, so a retried write can duplicate and consumers
// deduplicate by event id. The subscriber commits an offset only after the
// Watermill message and every one before it in its partition were acked.
// Messages with the same partition key (metadata PartitionKeyMetadata, the
// stream id) share a partition and are delivered one at a time, in order,
// a nacked one again before anything after it with its key; messages of
// other keys in the partition are delivered meanwhile. So one interaction is
// consumed in order and a slow one does not hold back the others.
//
// The package owns the Kafka wire format of a Watermill message: the payload
// is the record value, metadata are record headers and the UUID travels in
// the UUIDHeader header. It must not import services or domain packages.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

const (
	// PartitionKeyMetadata is the metadata key whose value becomes the Kafka
	// record key. Set it to the stream id: records with one key land on one
	// partition and are consumed in order. Without it the message UUID is the
	// key, which spreads messages over partitions with no order between them.
	PartitionKeyMetadata = "partition_key"

	// UUIDHeader carries the Watermill message UUID in a record header.
	UUIDHeader = "_watermill_message_uuid"

	// DefaultPartitions is the partition count of topics this package creates
	// when the config leaves it zero. Partitions bound the consumers of a
	// group that get work (one member per partition); keys within a
	// partition are consumed concurrently (DefaultMaxInFlightPerPartition).
	DefaultPartitions = 4

	// DefaultMaxInFlightPerPartition is SubscriberConfig's default bound on
	// the unacked records of one partition.
	DefaultMaxInFlightPerPartition = 32
)

var (
	// ErrPublisherClosed is returned by Publish after Close.
	ErrPublisherClosed = errors.New("kafka: publisher closed")
	// ErrSubscriberClosed is returned by Subscribe after Close.
	ErrSubscriberClosed = errors.New("kafka: subscriber closed")
)

// topicCreator creates topics on first use, so neither the publisher nor the
// subscriber depends on the broker's auto.create.topics.enable (off in
// production clusters) and the partition count is ours, not the broker's.
type topicCreator struct {
	client            *kafkago.Client
	partitions        int
	replicationFactor int

	mu    sync.Mutex
	known map[string]struct{}
}

func newTopicCreator(client *kafkago.Client, partitions, replicationFactor int) *topicCreator {
	if partitions <= 0 {
		partitions = DefaultPartitions
	}
	if replicationFactor == 0 {
		replicationFactor = -1 // the broker's default.replication.factor
	}
	return &topicCreator{
		client:            client,
		partitions:        partitions,
		replicationFactor: replicationFactor,
		known:             make(map[string]struct{}),
	}
}

// ensure creates topic unless this process already knows it exists. Two
// callers racing both send CreateTopics; the loser gets TopicAlreadyExists,
// which is success.
func (c *topicCreator) ensure(ctx context.Context, topic string) error {
	c.mu.Lock()
	_, ok := c.known[topic]
	c.mu.Unlock()
	if ok {
		return nil
	}

	resp, err := c.client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{
		Topics: []kafkago.TopicConfig{{
			Topic:             topic,
			NumPartitions:     c.partitions,
			ReplicationFactor: c.replicationFactor,
		}},
	})
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	if err := resp.Errors[topic]; err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}

	c.mu.Lock()
	c.known[topic] = struct{}{}
	c.mu.Unlock()
	return nil
}

// newTransport returns a kafka-go transport, with TLS and SASL when they
// are set, whose background goroutines stop when the returned cancel func is
// called.
func newTransport(tlsConfig *tls.Config, mechanism sasl.Mechanism) (*kafkago.Transport, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	t := &kafkago.Transport{Context: ctx, ClientID: "ringback", TLS: tlsConfig, SASL: mechanism}
	return t, func() {
		t.CloseIdleConnections()
		cancel()
	}
}

// toKafka converts a Watermill message to a record on topic.
func toKafka(topic string, msg *message.Message) kafkago.Message {
	key := msg.Metadata.Get(PartitionKeyMetadata)
	if key == "" {
		key = msg.UUID
	}
	headers := make([]kafkago.Header, 0, len(msg.Metadata)+1)
	headers = append(headers, kafkago.Header{Key: UUIDHeader, Value: []byte(msg.UUID)})
	for k, v := range msg.Metadata {
		headers = append(headers, kafkago.Header{Key: k, Value: []byte(v)})
	}
	return kafkago.Message{
		Topic:   topic,
		Key:     []byte(key),
		Value:   msg.Payload,
		Headers: headers,
	}
}

// fromKafka converts a record to a new Watermill message. A record without
// a UUID header (written by another producer) gets an id derived from its
// position, so a redelivery carries the same id and deduplicates.
func fromKafka(km kafkago.Message) *message.Message {
	uuid := ""
	md := make(message.Metadata, len(km.Headers))
	for _, h := range km.Headers {
		if h.Key == UUIDHeader {
			uuid = string(h.Value)
			continue
		}
		md[h.Key] = string(h.Value)
	}
	if uuid == "" {
		uuid = fmt.Sprintf("%s/%d/%d", km.Topic, km.Partition, km.Offset)
	}
	// A copy per delivery: a handler that mutates its payload must not
	// change what a redelivery of the same record carries.
	var payload []byte
	if km.Value != nil {
		payload = append([]byte(nil), km.Value...)
	}
	msg := message.NewMessage(uuid, payload)
	msg.Metadata = md
	return msg
}

// kafkaLoggers bridges kafka-go's printf loggers to Watermill's. Its
// informational lines are chatty (every rebalance step), so they go to
// Trace. Its error lines are about conditions it retries by itself (a
// rebalance in progress, a fetch timeout, a reconnect), so they go to Info;
// what it gives up on comes back to us as an error, which we log as such.
func kafkaLoggers(logger watermill.LoggerAdapter) (info, errs kafkago.Logger) {
	info = kafkago.LoggerFunc(func(format string, args ...any) {
		logger.Trace("kafka-go: "+fmt.Sprintf(format, args...), nil)
	})
	errs = kafkago.LoggerFunc(func(format string, args ...any) {
		logger.Info("kafka-go: "+fmt.Sprintf(format, args...), nil)
	})
	return info, errs
}
