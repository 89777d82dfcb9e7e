package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ringback/ringback/libs/bus/kafka"
	"github.com/ringback/ringback/libs/bus/kafka/kafkatest"
)

// Consumer lag counts from the oldest unacked record to the high
// watermark; handler latency is observed per delivery.
func TestConsumerMetrics(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.StartBroker(t)
	pub := onePartition(t, brokers)
	const topic, group = "metrics", "metrics"
	if err := pub.Publish(topic, keyed("a1", "a"), keyed("b1", "b"), keyed("c1", "c")); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg := fastSubscriber(brokers, group)
	cfg.Registerer = reg
	sub, err := kafka.NewSubscriber(cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	// A second subscriber of the process shares the registry.
	cfg.ConsumerGroup = "other"
	if _, err := kafka.NewSubscriber(cfg, watermill.NopLogger{}); err != nil {
		t.Fatalf("second subscriber on one registry: %v", err)
	}
	msgs, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*message.Message{}
	for range 3 {
		m := receive(t, msgs)
		byID[m.UUID] = m
	}
	lag := func() float64 {
		return testutil.ToFloat64(lagGauge(t, reg))
	}
	byID["b1"].Ack()
	byID["c1"].Ack()
	time.Sleep(50 * time.Millisecond)
	if got := lag(); got != 3 {
		t.Errorf("lag with the first record unacked: %v, want 3", got)
	}
	byID["a1"].Ack()
	deadline := time.Now().Add(wait)
	for lag() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("lag %v after every ack, want 0", lag())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := testutil.CollectAndCount(reg, "ringback_kafka_handler_seconds"); n != 1 {
		t.Errorf("%d handler latency series, want 1 (topic, group, ack)", n)
	}
}

func lagGauge(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	t.Helper()
	return collectorFunc(func(ch chan<- prometheus.Metric) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "ringback_kafka_consumer_lag" {
				for _, m := range mf.GetMetric() {
					ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("lag", "", nil, nil), prometheus.GaugeValue, m.GetGauge().GetValue())
				}
			}
		}
	})
}

type collectorFunc func(chan<- prometheus.Metric)

func (f collectorFunc) Describe(chan<- *prometheus.Desc)    {}
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }
