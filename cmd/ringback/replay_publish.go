package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/ThreeDotsLabs/watermill"

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
	n := 0
	err = scan(ctx, st, s, keep, func(e eventstore.RecordedEvent) error {
		topic := backfillTopic(f.topicPrefix, e.Stream)
		m := envelope.ToMessage(e)
		m.SetContext(ctx)
		if err := pub.Publish(topic, m); err != nil {
			return fmt.Errorf("replay publish: event %s (%s at %d) to %s: %w", e.ID, e.Stream, e.Position.Commit, topic, err)
		}
		if n == 0 {
			first = e
		}
		last = e
		n++
		counts[topic]++
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w (%d event(s) published before)", err, n)
	}
	for topic, c := range counts {
		fmt.Fprintf(stdout, "%s: %d event(s)\n", topic, c)
	}
	if n == 0 {
		fmt.Fprintln(stdout, "0 events published: the range holds none")
		return nil
	}
	fmt.Fprintf(stdout, "%d event(s) published, positions %d to %d, recorded %s to %s\n", n, first.Position.Commit, last.Position.Commit,
		first.Time.UTC().Format("2006-01-02T15:04:05Z07:00"), last.Time.UTC().Format("2006-01-02T15:04:05Z07:00"))
	return nil
}

// backfillTopic is the topic of stream's events under prefix: the live
// topic's service part (ringback.intake → <prefix>intake).
func backfillTopic(prefix, stream string) string {
	return prefix + strings.TrimPrefix(envelope.Topic(stream), envelope.TopicPrefix)
}
