package kafka_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/ringback/ringback/libs/bus/kafka"
	"github.com/ringback/ringback/libs/bus/kafka/kafkatest"
)

// Latency bench: the performance issue's Kafka figure, publish -> consume
// p99 at 2,000 messages/s with acks from all in-sync replicas (target
// < 50 ms), beside kafka-go's raw Writer -> partition Readers on the same
// broker, same rate, same writer settings (acks all, 2 ms batches): the
// difference is what this adapter adds (Watermill messages, the consumer
// group, per-key lanes, commits).
//
// The broker is kfake in this process over loopback TCP; a real cluster
// adds its replication round trip to both columns alike.
//
//	go test -run '^$' -bench PublishConsume -benchtime 1x ./bus/kafka/
const (
	latencyRate     = 2000 // messages/s
	latencyDuration = 5 * time.Second
	latencyStreams  = 256 // keys, spread over DefaultPartitions
	latencyWorkers  = 64  // concurrent synchronous publishes
)

func BenchmarkPublishConsume(b *testing.B) {
	var raw, ours latencies
	b.Run("baseline=kafka-go", func(b *testing.B) {
		for range b.N {
			raw = benchRawLatency(b)
		}
		raw.report(b)
	})
	b.Run("ringback", func(b *testing.B) {
		for range b.N {
			ours = benchLatency(b)
		}
		ours.report(b)
	})
	if len(raw) > 0 && len(ours) > 0 {
		fmt.Printf("kafka: publish->consume at %d msg/s, acks=all: p50 %.1f ms, p99 %.1f ms (target < 50 ms); "+
			"baseline kafka-go writer->reader p50 %.1f ms, p99 %.1f ms\n",
			latencyRate, ours.pct(50), ours.pct(99), raw.pct(50), raw.pct(99))
	}
}

type latencies []time.Duration

func (l latencies) pct(p float64) float64 {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return float64(s[i].Microseconds()) / 1000
}

func (l latencies) report(b *testing.B) {
	b.ReportMetric(l.pct(50), "p50-ms")
	b.ReportMetric(l.pct(99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// pace calls send for message i at start + i/rate, from latencyWorkers
// goroutines, for latencyDuration. The schedule is open loop: a publish that
// falls behind counts its wait, as a real producer's would.
func pace(b *testing.B, send func(i int, scheduled time.Time) error) int {
	n := int(latencyDuration.Seconds() * latencyRate)
	type job struct {
		i  int
		at time.Time
	}
	jobs := make(chan job, n)
	var wg sync.WaitGroup
	errs := make(chan error, latencyWorkers)
	for range latencyWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := send(j.i, j.at); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	start := time.Now()
	interval := time.Second / latencyRate
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		jobs <- job{i, at}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	return n
}

func benchLatency(b *testing.B) latencies {
	brokers := kafkatest.StartBroker(b)
	const topic = "latency"
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: brokers}, watermill.NopLogger{})
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	sub, err := kafka.NewSubscriber(kafka.SubscriberConfig{Brokers: brokers, ConsumerGroup: "latency"}, watermill.NopLogger{})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		b.Fatal(err)
	}
	waitJoined(b, sub)

	n := int(latencyDuration.Seconds() * latencyRate)
	got := make(latencies, 0, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range msgs {
			now := time.Now()
			m.Ack()
			ns, _ := strconv.ParseInt(m.Metadata.Get("sent"), 10, 64)
			got = append(got, now.Sub(time.Unix(0, ns)))
			if len(got) == n {
				return
			}
		}
	}()
	b.ResetTimer()
	pace(b, func(i int, at time.Time) error {
		m := message.NewMessage(watermill.NewUUID(), make([]byte, 200))
		m.Metadata.Set(kafka.PartitionKeyMetadata, fmt.Sprint("interaction-", i%latencyStreams))
		m.Metadata.Set("sent", strconv.FormatInt(at.UnixNano(), 10))
		return pub.Publish(topic, m)
	})
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("consumed %d of %d", len(got), n)
	}
	b.StopTimer()
	return got
}

func benchRawLatency(b *testing.B) latencies {
	brokers := kafkatest.StartBroker(b)
	const topic = "latency"
	// The topic as the adapter would create it.
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: brokers}, watermill.NopLogger{})
	if err != nil {
		b.Fatal(err)
	}
	if err := pub.Publish(topic, message.NewMessage("warm-up", nil)); err != nil {
		b.Fatal(err)
	}
	_ = pub.Close()

	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Balancer: &kafkago.Murmur2Balancer{},
		RequiredAcks: kafkago.RequireAll, BatchTimeout: 2 * time.Millisecond}
	defer w.Close()
	n := int(latencyDuration.Seconds() * latencyRate)
	var mu sync.Mutex
	got := make(latencies, 0, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var readers sync.WaitGroup
	defer readers.Wait()
	defer cancel()
	done := make(chan struct{})
	for p := range kafka.DefaultPartitions {
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 1500 * time.Millisecond})
		if err := r.SetOffset(kafkago.LastOffset); err != nil {
			b.Fatal(err)
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				now := time.Now()
				var ns int64
				for _, h := range m.Headers {
					if h.Key == "sent" {
						ns, _ = strconv.ParseInt(string(h.Value), 10, 64)
					}
				}
				mu.Lock()
				got = append(got, now.Sub(time.Unix(0, ns)))
				if len(got) == n {
					close(done)
				}
				mu.Unlock()
			}
		}()
	}
	// Readers at LastOffset only see what comes after they connected.
	time.Sleep(2 * time.Second)
	b.ResetTimer()
	pace(b, func(i int, at time.Time) error {
		return w.WriteMessages(ctx, kafkago.Message{Topic: topic, Key: []byte(fmt.Sprint("interaction-", i%latencyStreams)),
			Value: make([]byte, 200), Headers: []kafkago.Header{{Key: "sent", Value: []byte(strconv.FormatInt(at.UnixNano(), 10))}}})
	})
	select {
	case <-done:
	case <-time.After(time.Minute):
		mu.Lock()
		defer mu.Unlock()
		b.Fatalf("consumed %d of %d", len(got), n)
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(got)
}

func waitJoined(b *testing.B, sub *kafka.Subscriber) {
	deadline := time.Now().Add(30 * time.Second)
	for sub.Joined() != nil {
		if time.Now().After(deadline) {
			b.Fatal(sub.Joined())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Slow-handler bench: one partition carrying 8 streams, one of whose
// handler takes slowHandler per message while the others take
// fastHandler (a store append), consumed with 1 record of the partition in
// flight (the adapter before per-key concurrency) and with 4 (up to 4
// streams at once). Prints messages/s for each and when the 7 other
// streams were done.
//
//	go test -run '^$' -bench SlowHandler -benchtime 1x ./bus/kafka/
const (
	slowStreams   = 8
	slowPerStream = 60
	slowHandler   = 20 * time.Millisecond
	fastHandler   = 2 * time.Millisecond
)

type slowResult struct {
	rate       float64       // messages/s, all streams
	othersDone time.Duration // when the last message of a fast stream was handled
}

func BenchmarkSlowHandler(b *testing.B) {
	results := map[int]slowResult{}
	for _, inFlight := range []int{1, 4, kafka.DefaultMaxInFlightPerPartition} {
		b.Run(fmt.Sprint("in-flight=", inFlight), func(b *testing.B) {
			var r slowResult
			for range b.N {
				r = benchSlowHandler(b, inFlight)
			}
			b.ReportMetric(r.rate, "msgs/s")
			b.ReportMetric(float64(r.othersDone.Milliseconds()), "others-done-ms")
			b.ReportMetric(0, "ns/op")
			results[inFlight] = r
		})
	}
	one, four, def := results[1], results[4], results[kafka.DefaultMaxInFlightPerPartition]
	if one.rate > 0 && four.rate > 0 {
		fmt.Printf("kafka: one slow stream (%v/msg) among %d on a partition, others %v/msg: "+
			"4 keys in flight %.0f msgs/s, other streams done in %d ms (%d in flight, the default: %.0f msgs/s, %d ms); "+
			"baseline 1 in flight %.0f msgs/s, others done in %d ms; 4 vs 1: %.1f x\n",
			slowHandler, slowStreams, fastHandler, four.rate, four.othersDone.Milliseconds(),
			kafka.DefaultMaxInFlightPerPartition, def.rate, def.othersDone.Milliseconds(),
			one.rate, one.othersDone.Milliseconds(), four.rate/one.rate)
	}
}

func benchSlowHandler(b *testing.B, inFlight int) slowResult {
	brokers := kafkatest.StartBroker(b)
	const topic = "slow"
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: brokers, Partitions: 1}, watermill.NopLogger{})
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	var batch []*message.Message
	for i := range slowPerStream {
		for s := range slowStreams {
			m := message.NewMessage(fmt.Sprint(s, "-", i), nil)
			m.Metadata.Set(kafka.PartitionKeyMetadata, fmt.Sprint("interaction-", s))
			batch = append(batch, m)
		}
	}
	if err := pub.Publish(topic, batch...); err != nil {
		b.Fatal(err)
	}
	sub, err := kafka.NewSubscriber(kafka.SubscriberConfig{Brokers: brokers, ConsumerGroup: "slow", MaxInFlightPerPartition: inFlight}, watermill.NopLogger{})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		b.Fatal(err)
	}
	waitJoined(b, sub)
	b.ResetTimer()
	start := time.Now()

	total := slowStreams * slowPerStream
	var (
		mu         sync.Mutex
		handled    int
		fastLeft   = (slowStreams - 1) * slowPerStream
		othersDone time.Duration
		handlers   sync.WaitGroup
	)
	all := make(chan struct{})
	for done := false; !done; {
		var m *message.Message
		select {
		case m = <-msgs:
		case <-all:
			done = true
			continue
		}
		handlers.Add(1)
		go func() { // as Watermill's router: one goroutine per message
			defer handlers.Done()
			slow := m.Metadata.Get(kafka.PartitionKeyMetadata) == "interaction-0"
			if slow {
				time.Sleep(slowHandler)
			} else {
				time.Sleep(fastHandler)
			}
			m.Ack()
			mu.Lock()
			defer mu.Unlock()
			handled++
			if !slow {
				if fastLeft--; fastLeft == 0 {
					othersDone = time.Since(start)
				}
			}
			if handled == total {
				close(all)
			}
		}()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	handlers.Wait()
	return slowResult{rate: float64(total) / elapsed.Seconds(), othersDone: othersDone}
}
