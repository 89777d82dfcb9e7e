package kafka_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/ringback/ringback/libs/bus/kafka"
	"github.com/ringback/ringback/libs/bus/kafka/kafkatest"
)

// TestPubSub holds the adapter to Watermill's universal Pub/Sub suite,
// against kfake over TCP.
func TestPubSub(t *testing.T) {
	brokers := kafkatest.StartBroker(t)

	features := tests.Features{
		ConsumerGroups:      true,
		ExactlyOnceDelivery: false, // at least once: no idempotent producer, commit after ack
		// The suite's order tests check order among messages with equal
		// payloads (TestPublishSubscribeInOrder groups by payload,
		// TestNoAck publishes two equal ones), and keyByPayload makes the
		// payload the partition key: so this asserts what we guarantee,
		// order per key. Order across keys of a partition is not
		// guaranteed (they are delivered concurrently); keys_test.go
		// tests both sides.
		GuaranteedOrder: true,
		Persistent:      true,
		// Each constructor call without a group joins the test's own group,
		// so a second subscriber shares the partitions instead of reading
		// everything again.
		NewSubscriberReceivesOldMessages: false,
	}
	tests.TestPubSub(t, features,
		func(t *testing.T) (message.Publisher, message.Subscriber) {
			return newPubSub(t, brokers, groupOf(t))
		},
		func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
			return newPubSub(t, brokers, group)
		},
	)
}

// groupOf names a consumer group after the (unique) test name: sharing one
// group between parallel tests would rebalance all of them on every join.
func groupOf(t *testing.T) string {
	return "test-" + strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
}

func newPubSub(t *testing.T, brokers []string, group string) (message.Publisher, message.Subscriber) {
	t.Helper()
	// Info and errors by default; BUS_DEBUG=1 adds debug lines (joins and
	// rebalances), BUS_DEBUG=trace adds kafka-go's own.
	logger := watermill.NewStdLogger(os.Getenv("BUS_DEBUG") != "", os.Getenv("BUS_DEBUG") == "trace")
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: brokers}, logger)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := kafka.NewSubscriber(fastSubscriber(brokers, group), logger)
	if err != nil {
		t.Fatal(err)
	}
	// The suite does not close every subscriber it makes (TestPublishSubscribeInOrder
	// defers the result of sub.Close() instead of the call); Close is idempotent.
	t.Cleanup(func() {
		_ = pub.Close()
		_ = sub.Close()
	})
	return keyByPayload{pub}, sub
}

// fastSubscriber shortens the group timings so rebalances take
// milliseconds, and the drain so closing with an unacked message is quick.
func fastSubscriber(brokers []string, group string) kafka.SubscriberConfig {
	return kafka.SubscriberConfig{
		Brokers:           brokers,
		ConsumerGroup:     group,
		HeartbeatInterval: 100 * time.Millisecond,
		JoinGroupBackoff:  100 * time.Millisecond,
		RebalanceTimeout:  2 * time.Second,
		NackBackoff:       10 * time.Millisecond,
		DrainTimeout:      time.Second,
	}
}

// keyByPayload partitions by payload, the suite's ordering key (it checks
// order among messages with equal payloads), as the relay partitions by
// stream id. Watermill's own Kafka adapter runs the suite the same way.
type keyByPayload struct{ message.Publisher }

func (p keyByPayload) Publish(topic string, msgs ...*message.Message) error {
	for _, msg := range msgs {
		msg.Metadata.Set(kafka.PartitionKeyMetadata, string(msg.Payload))
	}
	return p.Publisher.Publish(topic, msgs...)
}
