package kafka

import (
	"context"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
)

// committer commits acked offsets of one subscription in the background, so
// a partition goes on to its next message while the previous offset is on
// its way; the order of offsets per partition is kept because one goroutine
// sends them. Offsets acked while a commit is in flight go together in the
// next one: under load commits batch themselves, when idle each goes at once.
//
// It commits through the subscriber's pooled transport, not
// Generation.CommitOffsets: that shares one kafka-go Conn with the heartbeat
// loop, and two goroutines waiting on one Conn spin on its read lock, each
// taking the other's response for a miss; a few busy members then burn whole
// cores and commits take hundreds of milliseconds.
//
// A failed commit is logged, not retried: a later commit of the partition
// covers it, and if none comes the records are delivered again, which
// at-least-once allows.
type committer struct {
	client *kafkago.Client
	logger watermill.LoggerAdapter
	errs   prometheus.Counter
	wake   chan struct{}

	mu       sync.Mutex
	pending  map[int]*pendingCommit // by partition, not yet sent
	inflight map[int]*pendingCommit // by partition, being sent
}

type pendingCommit struct {
	gen    *kafkago.Generation
	topic  string
	offset int64         // the next offset to read
	done   chan struct{} // closed once a commit of offset was attempted
}

func newCommitter(client *kafkago.Client, logger watermill.LoggerAdapter, errs prometheus.Counter) *committer {
	return &committer{
		client:  client,
		logger:  logger,
		errs:    errs,
		wake:    make(chan struct{}, 1),
		pending: make(map[int]*pendingCommit),
	}
}

// add records that every record of partition before offset was handled.
func (c *committer) add(gen *kafkago.Generation, topic string, partition int, offset int64) {
	c.mu.Lock()
	p := c.pending[partition]
	if p == nil {
		p = &pendingCommit{done: make(chan struct{})}
		c.pending[partition] = p
	}
	p.gen, p.topic, p.offset = gen, topic, offset
	c.mu.Unlock()

	select {
	case c.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// flush waits until the last offset added for partition was committed or
// its commit failed. A partition flushes before its generation may end, so
// the member that gets it next starts after everything handled here.
func (c *committer) flush(partition int) {
	c.mu.Lock()
	p := c.pending[partition]
	if p == nil {
		p = c.inflight[partition]
	}
	c.mu.Unlock()
	if p != nil {
		<-p.done
	}
}

// run sends commits until stop is closed, then sends what is left. Close
// stop only after the partitions stopped adding.
func (c *committer) run(stop <-chan struct{}) {
	for {
		select {
		case <-c.wake:
			c.send()
		case <-stop:
			c.send()
			return
		}
	}
}

func (c *committer) send() {
	c.mu.Lock()
	batch := c.pending
	c.pending = make(map[int]*pendingCommit)
	c.inflight = batch
	c.mu.Unlock()

	// One generation per request; a batch spans two only if a partition of
	// the old one failed to flush.
	byGen := make(map[*kafkago.Generation]map[string][]kafkago.OffsetCommit)
	for partition, p := range batch {
		topics := byGen[p.gen]
		if topics == nil {
			topics = make(map[string][]kafkago.OffsetCommit)
			byGen[p.gen] = topics
		}
		topics[p.topic] = append(topics[p.topic], kafkago.OffsetCommit{Partition: partition, Offset: p.offset})
	}
	for gen, topics := range byGen {
		if err := c.commit(gen, topics); err != nil {
			c.errs.Inc()
			c.logger.Error("commit offsets", err, watermill.LogFields{"generation": gen.ID, "offsets": fmt.Sprint(topics)})
		}
	}

	c.mu.Lock()
	c.inflight = nil
	c.mu.Unlock()
	for _, p := range batch {
		close(p.done)
	}
}

func (c *committer) commit(gen *kafkago.Generation, topics map[string][]kafkago.OffsetCommit) error {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	resp, err := c.client.OffsetCommit(ctx, &kafkago.OffsetCommitRequest{
		GroupID:      gen.GroupID,
		GenerationID: int(gen.ID),
		MemberID:     gen.MemberID,
		Topics:       topics,
	})
	if err != nil {
		return err
	}
	for _, partitions := range resp.Topics {
		for _, p := range partitions {
			if p.Error != nil {
				return fmt.Errorf("partition %d: %w", p.Partition, p.Error)
			}
		}
	}
	return nil
}
