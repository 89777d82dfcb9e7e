package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// ScanConfig says how Scan reaches the brokers.
type ScanConfig struct {
	Brokers []string // required
	TLS     *tls.Config
	SASL    sasl.Mechanism
}

// Record is a message read by Scan with its place in the topic.
type Record struct {
	Message   *message.Message
	Partition int
	Offset    int64
	Time      time.Time // the record's timestamp: when it was produced
}

// ErrNoTopic is returned by Scan for a topic the cluster does not have.
var ErrNoTopic = errors.New("kafka: no such topic")

// Scan calls fn with every record of topic, from the oldest retained to the
// last one written before the call, partition by partition and in offset
// order within each. It reads without a consumer group and commits
// nothing, so it may run any number of times beside the consumers (an
// operator listing the poison topic). An error from fn stops the scan and
// is returned.
func Scan(ctx context.Context, cfg ScanConfig, topic string, fn func(Record) error) error {
	if len(cfg.Brokers) == 0 {
		return errors.New("kafka scan: no brokers")
	}
	transport, stop := newTransport(cfg.TLS, cfg.SASL)
	defer stop()
	client := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Transport: transport}

	meta, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return fmt.Errorf("scan %s: metadata: %w", topic, err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		if len(meta.Topics) == 1 && errors.Is(meta.Topics[0].Error, kafkago.UnknownTopicOrPartition) {
			return fmt.Errorf("scan %s: %w", topic, ErrNoTopic)
		}
		if len(meta.Topics) == 1 {
			return fmt.Errorf("scan %s: %w", topic, meta.Topics[0].Error)
		}
		return fmt.Errorf("scan %s: %w", topic, ErrNoTopic)
	}
	var reqs []kafkago.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		reqs = append(reqs, kafkago.FirstOffsetOf(p.ID), kafkago.LastOffsetOf(p.ID))
	}
	offsets, err := client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: reqs}})
	if err != nil {
		return fmt.Errorf("scan %s: offsets: %w", topic, err)
	}
	dialer := &kafkago.Dialer{Timeout: 10 * time.Second, DualStack: true, ClientID: "ringback", TLS: cfg.TLS, SASLMechanism: cfg.SASL}
	for _, po := range offsets.Topics[topic] {
		if po.Error != nil {
			return fmt.Errorf("scan %s/%d: offsets: %w", topic, po.Partition, po.Error)
		}
		if po.FirstOffset >= po.LastOffset {
			continue
		}
		if err := scanPartition(ctx, cfg.Brokers, dialer, topic, po.Partition, po.FirstOffset, po.LastOffset, fn); err != nil {
			return err
		}
	}
	return nil
}

// scanQuiet is how long a scan waits for a record it expects before taking
// the partition as read.
const scanQuiet = 10 * time.Second

// scanPartition reads [first, end) of one partition.
func scanPartition(ctx context.Context, brokers []string, dialer *kafkago.Dialer, topic string, partition int, first, end int64, fn func(Record) error) error {
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:         brokers,
		Dialer:          dialer,
		Topic:           topic,
		Partition:       partition,
		MaxWait:         readerMaxWait,
		ReadLagInterval: -1,
	})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		return fmt.Errorf("scan %s/%d: seek %d: %w", topic, partition, first, err)
	}
	for {
		// The last offsets may be no record a reader returns (a
		// transaction marker): a quiet partition is at its end.
		fetchCtx, cancel := context.WithTimeout(ctx, scanQuiet)
		km, err := r.FetchMessage(fetchCtx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return nil
			}
			return fmt.Errorf("scan %s/%d: %w", topic, partition, err)
		}
		if km.Offset >= end {
			return nil
		}
		if err := fn(Record{Message: fromKafka(km), Partition: partition, Offset: km.Offset, Time: km.Time}); err != nil {
			return err
		}
		if km.Offset == end-1 {
			return nil
		}
	}
}
