package kafka_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/ringback/ringback/libs/bus/kafka"
	"github.com/ringback/ringback/libs/bus/kafka/kafkatest"
)

// onePartition returns a publisher whose topics have a single partition, so
// every key shares it: what is tested is concurrency inside a partition.
func onePartition(t *testing.T, brokers []string) *kafka.Publisher {
	t.Helper()
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: brokers, Partitions: 1}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	return pub
}

func keyed(id, key string) *message.Message {
	msg := message.NewMessage(id, []byte(key))
	msg.Metadata.Set(kafka.PartitionKeyMetadata, key)
	return msg
}

// nothing fails if a message arrives within d.
func nothing(t *testing.T, msgs <-chan *message.Message, d time.Duration) {
	t.Helper()
	select {
	case msg := <-msgs:
		t.Fatalf("got %s, want nothing yet", msg.UUID)
	case <-time.After(d):
	}
}

// A message left unacked holds back only its own key: the other keys of the
// partition go on, its own next message waits for its ack. The commit stays
// at the oldest unacked offset, so a restart redelivers from there.
func TestSlowKeyHoldsBackOnlyItself(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.StartBroker(t)
	pub := onePartition(t, brokers)
	const topic, group = "slowkey", "slowkey"
	if err := pub.Publish(topic, keyed("a1", "a"), keyed("b1", "b"), keyed("b2", "b"), keyed("a2", "a"), keyed("c1", "c")); err != nil {
		t.Fatal(err)
	}

	first := subscriber(t, brokers, group)
	msgs, err := first.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	// a1 stays unacked; b and c are other streams, delivered meanwhile.
	got := map[string]bool{}
	for range 4 {
		m := receive(t, msgs)
		got[m.UUID] = true
		switch m.UUID {
		case "a1":
			continue
		case "a2":
			t.Fatal("a2 delivered before a1 was acked")
		case "b2":
			if !got["b1"] {
				t.Fatal("b2 before b1")
			}
		}
		m.Ack()
	}
	if !got["a1"] {
		t.Fatalf("a1 not delivered: %v", got)
	}
	if !got["b1"] || !got["b2"] || !got["c1"] {
		t.Fatalf("other keys delivered: %v, want b1 b2 c1", got)
	}
	nothing(t, msgs, 200*time.Millisecond)

	// Close with a1 unacked: b1, b2 and c1 were acked, but the commit must
	// not pass a1.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := subscriber(t, brokers, group)
	msgs, err = second.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	again := map[string]bool{}
	for range 5 {
		m := receive(t, msgs)
		again[m.UUID] = true
		m.Ack()
	}
	for _, id := range []string{"a1", "a2", "b1", "b2", "c1"} {
		if !again[id] {
			t.Errorf("after restart %s not redelivered (got %v): committed past an unacked record", id, again)
		}
	}
}

// Acking a held message releases its key's next one; a nack redelivers it
// first.
func TestNackRedeliversBeforeKeysNext(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.StartBroker(t)
	pub := onePartition(t, brokers)
	const topic = "nackkey"
	if err := pub.Publish(topic, keyed("a1", "a"), keyed("a2", "a"), keyed("b1", "b")); err != nil {
		t.Fatal(err)
	}
	sub := subscriber(t, brokers, "nackkey")
	msgs, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var seq []string
	nacked := false
	for len(seq) < 4 {
		m := receive(t, msgs)
		seq = append(seq, m.UUID)
		if m.UUID == "a1" && !nacked {
			nacked = true
			m.Nack() // the first delivery of a1 fails
			continue
		}
		m.Ack()
	}
	nothing(t, msgs, 100*time.Millisecond)
	var a []string
	for _, id := range seq {
		if id != "b1" {
			a = append(a, id)
		}
	}
	if fmt.Sprint(a) != "[a1 a1 a2]" {
		t.Fatalf("key a delivered as %v (all: %v), want [a1 a1 a2]", a, seq)
	}
}

// At most MaxInFlightPerPartition records of a partition are unacked.
func TestMaxInFlightPerPartition(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.StartBroker(t)
	pub := onePartition(t, brokers)
	const topic = "inflight"
	var batch []*message.Message
	for i := range 5 {
		batch = append(batch, keyed(fmt.Sprint("m", i), fmt.Sprint("k", i)))
	}
	if err := pub.Publish(topic, batch...); err != nil {
		t.Fatal(err)
	}
	cfg := fastSubscriber(brokers, "inflight")
	cfg.DrainTimeout = 200 * time.Millisecond
	cfg.MaxInFlightPerPartition = 2
	sub, err := kafka.NewSubscriber(cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	msgs, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	m0, m1 := receive(t, msgs), receive(t, msgs)
	nothing(t, msgs, 200*time.Millisecond)
	m1.Ack()
	m2 := receive(t, msgs)
	nothing(t, msgs, 100*time.Millisecond)
	m0.Ack()
	m2.Ack()
	receive(t, msgs).Ack()
	receive(t, msgs).Ack()
}

// Many streams on few partitions, handlers of random speed that sometimes
// fail: every stream is consumed completely and in order, and streams
// overlap in time.
func TestPerKeyOrder(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.StartBroker(t)
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: brokers, Partitions: 2}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	const topic, keys, perKey = "perkey", 20, 15
	var batch []*message.Message
	for i := range perKey {
		for k := range keys {
			batch = append(batch, keyed(fmt.Sprintf("k%d-%02d", k, i), fmt.Sprint("k", k)))
		}
	}
	if err := pub.Publish(topic, batch...); err != nil {
		t.Fatal(err)
	}
	sub := subscriber(t, brokers, "perkey")
	msgs, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu       sync.Mutex
		seen     = map[string][]string{}
		busy     int
		maxBusy  int
		handlers sync.WaitGroup
	)
	acked := make(chan struct{}, keys*perKey)
	stop := make(chan struct{})
	defer func() {
		close(stop)
		handlers.Wait()
	}()
	handlers.Add(1)
	go func() {
		defer handlers.Done()
		for {
			var m *message.Message
			select {
			case m = <-msgs:
			case <-stop:
				return
			}
			handlers.Add(1)
			go func() {
				defer handlers.Done()
				key := m.Metadata.Get(kafka.PartitionKeyMetadata)
				mu.Lock()
				busy++
				maxBusy = max(maxBusy, busy)
				mu.Unlock()
				time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
				mu.Lock()
				busy--
				fail := rand.IntN(10) == 0
				if !fail {
					seen[key] = append(seen[key], m.UUID)
				}
				mu.Unlock()
				if fail {
					m.Nack()
					return
				}
				m.Ack()
				acked <- struct{}{}
			}()
		}
	}()
	deadline := time.After(3 * wait)
	for range keys * perKey {
		select {
		case <-acked:
		case <-deadline:
			t.Fatal("not every message acked")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for k := range keys {
		key := fmt.Sprint("k", k)
		var want []string
		for i := range perKey {
			want = append(want, fmt.Sprintf("k%d-%02d", k, i))
		}
		if fmt.Sprint(seen[key]) != fmt.Sprint(want) {
			t.Errorf("%s handled as %v, want %v", key, seen[key], want)
		}
	}
	if maxBusy < 3 {
		t.Errorf("at most %d handlers at once over 2 partitions: keys of a partition are not concurrent", maxBusy)
	}
}

// Topics are created with the configured partition count.
func TestPartitionsConfigurable(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.StartBroker(t)
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: brokers, Partitions: 7}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	if err := pub.Publish("seven", keyed("m", "k")); err != nil {
		t.Fatal(err)
	}
	client := &kafkago.Client{Addr: kafkago.TCP(brokers...)}
	resp, err := client.Metadata(context.Background(), &kafkago.MetadataRequest{Topics: []string{"seven"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 7 {
		t.Fatalf("topic metadata %+v, want 7 partitions", resp.Topics)
	}
}

// A topic that gains partitions is consumed on all of them after the
// members notice (PartitionWatchInterval), from the new ones' first offset.
func TestGrownTopicIsConsumed(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.StartBroker(t)
	pub := onePartition(t, brokers)
	const topic = "grow"
	cfg := fastSubscriber(brokers, "grow")
	cfg.PartitionWatchInterval = 200 * time.Millisecond
	sub, err := kafka.NewSubscriber(cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	if err := pub.Publish(topic, keyed("before", "k")); err != nil {
		t.Fatal(err)
	}
	msgs, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	receive(t, msgs).Ack()

	client := &kafkago.Client{Addr: kafkago.TCP(brokers...)}
	resp, err := client.CreatePartitions(context.Background(), &kafkago.CreatePartitionsRequest{
		Topics: []kafkago.TopicPartitionsConfig{{Name: topic, Count: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Errors[topic]; err != nil {
		t.Fatal(err)
	}
	// Straight to a new partition, as a producer that has seen the new
	// metadata would put some keys.
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Balancer: toPartition(2), RequiredAcks: kafkago.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), kafkago.Message{Topic: topic, Key: []byte("moved"), Value: []byte("x"),
		Headers: []kafkago.Header{{Key: kafka.UUIDHeader, Value: []byte("after")}}}); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, msgs); m.UUID != "after" {
		t.Fatalf("got %s, want the record on the new partition", m.UUID)
	} else {
		m.Ack()
	}
}

type toPartition int

func (p toPartition) Balance(_ kafkago.Message, partitions ...int) int {
	for _, q := range partitions {
		if q == int(p) {
			return q
		}
	}
	return partitions[0]
}
