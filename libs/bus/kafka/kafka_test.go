package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/ringback/ringback/libs/bus/kafka"
	"github.com/ringback/ringback/libs/bus/kafka/kafkatest"
)

// The suite's timeouts are long; these tests wait at most this for one step.
const wait = 10 * time.Second

func publisher(t *testing.T, brokers []string) *kafka.Publisher {
	t.Helper()
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: brokers}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	return pub
}

func subscriber(t *testing.T, brokers []string, group string) *kafka.Subscriber {
	t.Helper()
	cfg := fastSubscriber(brokers, group)
	cfg.DrainTimeout = 200 * time.Millisecond
	sub, err := kafka.NewSubscriber(cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

func receive(t *testing.T, msgs <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case msg, ok := <-msgs:
		if !ok {
			t.Fatal("channel closed")
		}
		return msg
	case <-time.After(wait):
		t.Fatal("no message")
	}
	return nil
}

func TestConfigRequired(t *testing.T) {
	if _, err := kafka.NewPublisher(kafka.PublisherConfig{}, nil); err == nil {
		t.Error("publisher without brokers: want error")
	}
	if _, err := kafka.NewSubscriber(kafka.SubscriberConfig{Brokers: []string{"127.0.0.1:1"}}, nil); err == nil {
		t.Error("subscriber without consumer group: want error")
	}
	cfg := kafka.SubscriberConfig{Brokers: []string{"127.0.0.1:1"}, ConsumerGroup: "g", DrainTimeout: time.Minute}
	if _, err := kafka.NewSubscriber(cfg, nil); err == nil {
		t.Error("drain timeout above the rebalance timeout: want error")
	}
}

// Publish must return only once the broker has the records (kafka-go's
// default is fire and forget) and must not sit out kafka-go's 1s batch
// timeout.
func TestPublishWaitsForBroker(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.StartBroker(t)
	pub := publisher(t, brokers)
	const topic = "sync"

	client := &kafkago.Client{Addr: kafkago.TCP(brokers...)}
	for i := range 5 {
		start := time.Now()
		if err := pub.Publish(topic, message.NewMessage(watermill.NewUUID(), []byte("x"))); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); i > 0 && d > 500*time.Millisecond {
			t.Errorf("publish %d took %v: batch timeout not lowered", i, d)
		}

		var offsets []kafkago.OffsetRequest
		for p := range kafka.DefaultPartitions {
			offsets = append(offsets, kafkago.LastOffsetOf(p))
		}
		resp, err := client.ListOffsets(context.Background(), &kafkago.ListOffsetsRequest{
			Topics: map[string][]kafkago.OffsetRequest{topic: offsets},
		})
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, p := range resp.Topics[topic] {
			if p.Error != nil {
				t.Fatal(p.Error)
			}
			total += p.LastOffset
		}
		if total != int64(i+1) {
			t.Fatalf("after %d publishes the topic holds %d records", i+1, total)
		}
	}
}

// Metadata travel as headers and the UUID in its own header; the partition
// key becomes the record key.
func TestWireFormat(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.StartBroker(t)
	pub := publisher(t, brokers)
	const topic = "wire"

	msg := message.NewMessage("uuid-1", []byte("payload"))
	msg.Metadata.Set(kafka.PartitionKeyMetadata, "interaction-42")
	msg.Metadata.Set("ce_type", "callback.v1.CallbackRequested")
	if err := pub.Publish(topic, msg); err != nil {
		t.Fatal(err)
	}

	// Read the raw record back from whichever partition has it.
	var rec kafkago.Message
	for p := range kafka.DefaultPartitions {
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 1500 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		m, err := r.ReadMessage(ctx)
		cancel()
		_ = r.Close()
		if err == nil {
			rec = m
			break
		}
	}
	if string(rec.Key) != "interaction-42" || string(rec.Value) != "payload" {
		t.Fatalf("record key %q value %q", rec.Key, rec.Value)
	}
	headers := map[string]string{}
	for _, h := range rec.Headers {
		headers[h.Key] = string(h.Value)
	}
	if headers[kafka.UUIDHeader] != "uuid-1" || headers["ce_type"] != "callback.v1.CallbackRequested" {
		t.Fatalf("headers %v", headers)
	}

	// And back: a subscriber restores UUID and metadata.
	sub := subscriber(t, brokers, "wire")
	msgs, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	got := receive(t, msgs)
	got.Ack()
	if got.UUID != "uuid-1" || got.Metadata.Get("ce_type") != "callback.v1.CallbackRequested" ||
		got.Metadata.Get(kafka.PartitionKeyMetadata) != "interaction-42" {
		t.Fatalf("got %s %v", got.UUID, got.Metadata)
	}
	if _, ok := got.Metadata[kafka.UUIDHeader]; ok {
		t.Error("UUID header leaked into metadata")
	}
}

// A record from another producer has no UUID header; its id is its position,
// the same on every delivery.
func TestForeignRecordID(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.StartBroker(t)
	const topic = "foreign"
	sub := subscriber(t, brokers, "foreign")
	if err := sub.SubscribeInitialize(topic); err != nil {
		t.Fatal(err)
	}
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Balancer: &kafkago.LeastBytes{}, RequiredAcks: kafkago.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), kafkago.Message{Topic: topic, Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	msgs, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	first := receive(t, msgs)
	first.Nack()
	again := receive(t, msgs)
	again.Ack()
	if first.UUID != again.UUID || first.UUID == "" {
		t.Fatalf("ids %q and %q", first.UUID, again.UUID)
	}
}

// Offsets are committed only for acked messages: a message left unacked when
// its subscriber closes comes back to the group's next member, one acked does
// not. Messages of one key arrive in publish order.
func TestCommitAfterAck(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.StartBroker(t)
	pub := publisher(t, brokers)
	const topic, group = "commit", "commit"

	var published []*message.Message
	for i := range 3 {
		msg := message.NewMessage(fmt.Sprint("m", i), []byte("x"))
		msg.Metadata.Set(kafka.PartitionKeyMetadata, "stream-1")
		published = append(published, msg)
	}
	if err := pub.Publish(topic, published...); err != nil {
		t.Fatal(err)
	}

	first := subscriber(t, brokers, group)
	msgs, err := first.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	m0 := receive(t, msgs)
	if m0.UUID != "m0" {
		t.Fatalf("first message %s, want m0", m0.UUID)
	}
	m0.Ack()
	m1 := receive(t, msgs)
	if m1.UUID != "m1" {
		t.Fatalf("second message %s, want m1", m1.UUID)
	}
	// m1 stays unacked: Close drains for DrainTimeout, then gives up on it
	// and cancels its context.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m1.Context().Done():
	default:
		t.Error("context of the abandoned message not cancelled by Close")
	}
	if _, ok := <-msgs; ok {
		t.Error("channel open after Close")
	}

	second := subscriber(t, brokers, group)
	msgs, err = second.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"m1", "m2"} {
		got := receive(t, msgs)
		if got.UUID != want {
			t.Fatalf("after restart got %s, want %s", got.UUID, want)
		}
		got.Ack()
	}
}

// Close lets the handler of a message in flight finish: its context stays
// alive and its ack is committed.
func TestCloseDrainsInFlight(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.StartBroker(t)
	pub := publisher(t, brokers)
	const topic, group = "drain", "drain"

	for i := range 2 {
		msg := message.NewMessage(fmt.Sprint("m", i), []byte("x"))
		msg.Metadata.Set(kafka.PartitionKeyMetadata, "stream-1")
		if err := pub.Publish(topic, msg); err != nil {
			t.Fatal(err)
		}
	}

	cfg := fastSubscriber(brokers, group)
	cfg.DrainTimeout = wait
	cfg.RebalanceTimeout = 2 * wait
	first, err := kafka.NewSubscriber(cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := first.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	m0 := receive(t, msgs)

	closed := make(chan error)
	go func() { closed <- first.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with a message in flight", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := m0.Context().Err(); err != nil {
		t.Fatalf("context of the message in flight: %v", err)
	}
	m0.Ack()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatal("Close did not return after the ack")
	}

	second := subscriber(t, brokers, group)
	msgs, err = second.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	if got := receive(t, msgs); got.UUID != "m1" {
		t.Fatalf("after restart got %s, want m1", got.UUID)
	}
}

func TestClosed(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.StartBroker(t)
	pub := publisher(t, brokers)
	sub := subscriber(t, brokers, "closed")
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish("t", message.NewMessage("1", nil)); !errors.Is(err, kafka.ErrPublisherClosed) {
		t.Errorf("Publish after Close: %v", err)
	}
	if _, err := sub.Subscribe(context.Background(), "t"); !errors.Is(err, kafka.ErrSubscriberClosed) {
		t.Errorf("Subscribe after Close: %v", err)
	}
}

// Close stops every goroutine the publisher and subscriber started. Not
// parallel: it counts the process's goroutines.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	brokers := kafkatest.StartBroker(t)
	before := runtime.NumGoroutine()

	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: brokers}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := kafka.NewSubscriber(fastSubscriber(brokers, "leak"), watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := sub.Subscribe(context.Background(), "leak")
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish("leak", message.NewMessage("m1", nil)); err != nil {
		t.Fatal(err)
	}
	receive(t, msgs).Ack()
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}

	// The broker ends its side of each connection a moment later.
	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
