package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/ringback/ringback/libs/bus/kafka"
	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
)

// replayPublish publishes the range's events to <prefix><service> in the
// relay's envelope: the message id is the event id and the key its stream,
// so a stream stays in order on one partition and a consumer that keeps
// the ids it handled drops what it had, however often a backfill runs.
// Personal fields stay sealed, as the relay publishes them.
func replayPublish(ctx context.Context, st eventstore.Store, s span, keep func(string) bool, f replayFlags, stdout io.Writer) error {
	pubCfg, _, err := f.kafka.configs(brokerList(f.brokers))
	if err != nil {
		return err
	}
	pub, err := kafka.NewPublisher(pubCfg, watermill.NopLogger{})
	if err != nil {
		return fmt.Errorf("replay publish: %w", err)
	}
	defer pub.Close()
	counts := map[string]int{}
	var first, last eventstore.RecordedEvent
	n, sent := 0, 0
	// Batches per topic, a round trip each; a stream's events all go to one
	// topic, so they stay in order.
	pending := map[string][]*message.Message{}
	flush := func(topic string) error {
		msgs := pending[topic]
		if len(msgs) == 0 {
			return nil
		}
		if err := pub.Publish(topic, msgs...); err != nil {
			return fmt.Errorf("replay publish: %d event(s) from %s to %s: %w", len(msgs), msgs[0].UUID, topic, err)
		}
		sent += len(msgs)
		counts[topic] += len(msgs)
		pending[topic] = msgs[:0]
		return nil
	}
	err = scan(ctx, st, s, keep, func(e eventstore.RecordedEvent) error {
		topic := backfillTopic(f.topicPrefix, e.Stream)
		m := envelope.ToMessage(e)
		m.SetContext(ctx)
		pending[topic] = append(pending[topic], m)
		if n == 0 {
			first = e
		}
		last = e
		n++
		if len(pending[topic]) >= publishBatch {
			return flush(topic)
		}
		return nil
	})
	for topic := range pending {
		if err == nil {
			err = flush(topic)
		}
	}
	if err != nil {
		return fmt.Errorf("%w (%d event(s) published before)", err, sent)
	}
	for _, topic := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(stdout, "%s: %d event(s)\n", topic, counts[topic])
	}
	if n == 0 {
		fmt.Fprintln(stdout, "0 events published: the range holds none")
		return nil
	}
	fmt.Fprintf(stdout, "%d event(s) published, positions %d to %d, recorded %s to %s\n", n, first.Position.Commit, last.Position.Commit,
		first.Time.UTC().Format("2006-01-02T15:04:05Z07:00"), last.Time.UTC().Format("2006-01-02T15:04:05Z07:00"))
	return nil
}

// publishBatch is the most events sent to a topic in one round trip.
const publishBatch = 500

// backfillTopic is the topic of stream's events under prefix: the live
// topic's service part (ringback.intake → <prefix>intake).
func backfillTopic(prefix, stream string) string {
	return prefix + strings.TrimPrefix(envelope.Topic(stream), envelope.TopicPrefix)
}
