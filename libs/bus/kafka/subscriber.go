package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"

	"github.com/ringback/ringback/libs/clock"
)

// SubscriberConfig configures a Subscriber. Zero values take the documented
// defaults.
type SubscriberConfig struct {
	// Brokers are bootstrap addresses (host:port). Required.
	Brokers []string
	// ConsumerGroup is the Kafka consumer group id. Required. Every group
	// gets every message; subscribers sharing a group share the partitions.
	// A new group starts at the oldest retained record, so a consumer added
	// later misses nothing; consumers are idempotent anyway.
	ConsumerGroup string

	// Partitions is the partition count of topics created on Subscribe.
	// Default DefaultPartitions.
	Partitions int
	// ReplicationFactor of topics created on Subscribe. Default -1, the
	// broker's default.
	ReplicationFactor int

	// HeartbeatInterval is how often a member tells the coordinator it is
	// alive, and so how soon it notices a rebalance. Default 1s.
	HeartbeatInterval time.Duration
	// SessionTimeout is how long the coordinator keeps a silent member.
	// Default 10s (the broker's minimum is usually 6s).
	SessionTimeout time.Duration
	// RebalanceTimeout is how long the coordinator waits for members to
	// rejoin during a rebalance, and so how long a member closing in the
	// middle of one may wait in its join. Members rejoin only after
	// draining, so it must exceed DrainTimeout. Default 10s.
	RebalanceTimeout time.Duration
	// JoinGroupBackoff is the pause before rejoining after a failed join.
	// Default 1s.
	JoinGroupBackoff time.Duration
	// PartitionWatchInterval is how often a member checks whether its
	// topic gained partitions, and if so rejoins so that the group
	// consumes them. Default 30s: a topic grows rarely, and the check
	// shares the heartbeat's connection.
	PartitionWatchInterval time.Duration

	// NackBackoff is the pause before a nacked message is delivered again.
	// Default 100ms.
	NackBackoff time.Duration
	// DrainTimeout bounds how long a partition whose ownership ends (Close,
	// context cancelled, rebalance) waits for its messages in flight to be
	// acked, so the offsets are committed rather than the messages
	// redelivered. After it the messages' contexts are cancelled. Default 5s.
	DrainTimeout time.Duration

	// MaxInFlightPerPartition bounds the records of one partition delivered
	// or waiting for their key's turn, not yet acked. Records of one key
	// (the stream) are delivered one at a time, in order; records of
	// different keys concurrently, up to this bound. Default 32: enough
	// that one slow stream does not stall its partition, few enough that a
	// rebalance drains quickly and a crash redelivers little. 1 delivers
	// one record per partition at a time, in partition order.
	MaxInFlightPerPartition int

	// TLS, when set, encrypts every connection to the brokers (see
	// TLSConfig). Nil is plaintext.
	TLS *tls.Config
	// SASL, when set, authenticates every connection (see SASLMechanism).
	SASL sasl.Mechanism

	// Registerer receives the consumer metrics (lag, in flight, handler
	// latency, commit errors). Subscribers of one process may share it. Nil
	// registers nothing.
	Registerer prometheus.Registerer
}

func (c *SubscriberConfig) setDefaults() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka subscriber: no brokers")
	}
	if c.ConsumerGroup == "" {
		return errors.New("kafka subscriber: no consumer group")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.HeartbeatInterval, time.Second)
	def(&c.SessionTimeout, 10*time.Second)
	def(&c.RebalanceTimeout, 10*time.Second)
	def(&c.JoinGroupBackoff, time.Second)
	def(&c.PartitionWatchInterval, 30*time.Second)
	def(&c.NackBackoff, 100*time.Millisecond)
	def(&c.DrainTimeout, 5*time.Second)
	if c.MaxInFlightPerPartition <= 0 {
		c.MaxInFlightPerPartition = DefaultMaxInFlightPerPartition
	}
	if c.RebalanceTimeout <= c.DrainTimeout {
		return fmt.Errorf("kafka subscriber: rebalance timeout %v must exceed drain timeout %v", c.RebalanceTimeout, c.DrainTimeout)
	}
	return nil
}

// Subscriber is a Watermill subscriber in one Kafka consumer group.
//
// Each Subscribe joins the group as one member for one topic. Each assigned
// partition is fetched by its own goroutine and delivered per key (see
// partition): the next record of a key is delivered only after the previous
// one was acked, records of other keys meanwhile, up to
// MaxInFlightPerPartition unacked records per partition; a nacked message is
// delivered again after NackBackoff, before anything after it of its key.
// Offsets are committed (in the background, see committer) only up to the
// oldest unacked record. So order holds per key, not across the keys of a
// partition, and partitions progress independently.
//
// kafka-go's Reader with a GroupID hides rebalances, so a revoked partition
// could still be delivered from its buffer while its new owner starts on the
// same records. This subscriber drives kafka-go's ConsumerGroup directly and
// reads each partition with a group-less Reader: when a generation ends,
// every partition goroutine stops fetching, drains (DrainTimeout) and has
// its offsets committed before the member rejoins, so two members never
// deliver one partition at the same time and the next owner starts after
// what was acked here.
//
// Safe for concurrent use. Close ends every subscription.
type Subscriber struct {
	cfg    SubscriberConfig
	logger watermill.LoggerAdapter

	dialer        *kafkago.Dialer
	client        *kafkago.Client
	metrics       *metrics
	topics        *topicCreator
	stopTransport context.CancelFunc

	// closing is cancelled by Close and stops every subscription.
	closing       context.Context
	cancelClosing context.CancelFunc

	mu     sync.Mutex
	closed bool
	subs   sync.WaitGroup
	all    []*subscription // for Joined
}

var (
	_ message.Subscriber           = (*Subscriber)(nil)
	_ message.SubscribeInitializer = (*Subscriber)(nil)
)

// NewSubscriber returns a Subscriber. It does not connect: Subscribe does.
func NewSubscriber(cfg SubscriberConfig, logger watermill.LoggerAdapter) (*Subscriber, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	transport, stop := newTransport(cfg.TLS, cfg.SASL)
	closing, cancel := context.WithCancel(context.Background())
	client := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Transport: transport}
	return &Subscriber{
		cfg:    cfg,
		logger: logger.With(watermill.LogFields{"component": "kafka-subscriber", "consumer_group": cfg.ConsumerGroup}),
		// The consumer group and the partition readers connect through the
		// dialer, everything else through the transport: both carry TLS and
		// SASL.
		dialer: &kafkago.Dialer{Timeout: 10 * time.Second, DualStack: true, ClientID: "ringback",
			TLS: cfg.TLS, SASLMechanism: cfg.SASL},
		client:        client,
		metrics:       m,
		topics:        newTopicCreator(client, cfg.Partitions, cfg.ReplicationFactor),
		stopTransport: stop,
		closing:       closing,
		cancelClosing: cancel,
	}, nil
}

// Joined is nil once every subscription has joined its consumer group (had
// partitions assigned, or learnt there are none for it), for readiness: a
// replica that has not joined yet consumes nothing.
func (s *Subscriber) Joined() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.all {
		if !sub.joined.Load() {
			return fmt.Errorf("consumer group %s has not joined on %s yet", s.cfg.ConsumerGroup, sub.topic)
		}
	}
	return nil
}

// SubscribeInitialize creates topic if it does not exist.
func (s *Subscriber) SubscribeInitialize(topic string) error {
	ctx, cancel := context.WithTimeout(s.closing, 30*time.Second)
	defer cancel()
	return s.topics.ensure(ctx, topic)
}

// Subscribe joins the consumer group for topic, creating the topic if
// needed, and returns the channel of its messages. The channel is closed
// after ctx is done or Close was called and every partition has drained.
// Messages carry a context derived from ctx.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrSubscriberClosed
	}
	s.subs.Add(1)
	s.mu.Unlock()

	started := false
	defer func() {
		if !started {
			s.subs.Done()
		}
	}()

	createCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.topics.ensure(createCtx, topic); err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", topic, err)
	}

	info, errs := kafkaLoggers(s.logger)
	group, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID:                s.cfg.ConsumerGroup,
		Brokers:           s.cfg.Brokers,
		Dialer:            s.dialer,
		Topics:            []string{topic},
		HeartbeatInterval: s.cfg.HeartbeatInterval,
		SessionTimeout:    s.cfg.SessionTimeout,
		RebalanceTimeout:  s.cfg.RebalanceTimeout,
		JoinGroupBackoff:  s.cfg.JoinGroupBackoff,
		// Added partitions start at their first offset (nothing
		// committed), so events written there before the rebalance are
		// consumed too.
		WatchPartitionChanges:  true,
		PartitionWatchInterval: s.cfg.PartitionWatchInterval,
		StartOffset:            kafkago.FirstOffset,
		Logger:                 info,
		ErrorLogger:            errs,
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", topic, err)
	}

	out := make(chan *message.Message)
	sub := &subscription{
		s:      s,
		ctx:    ctx,
		topic:  topic,
		group:  group,
		out:    out,
		logger: s.logger.With(watermill.LogFields{"topic": topic}),
	}
	sub.commits = newCommitter(s.client, sub.logger, s.metrics.commitErrors.WithLabelValues(s.cfg.ConsumerGroup))
	s.mu.Lock()
	s.all = append(s.all, sub)
	s.mu.Unlock()
	started = true
	go func() {
		defer s.subs.Done()
		sub.run()
	}()
	return out, nil
}

// Close ends every subscription: partitions stop fetching, messages in
// flight get DrainTimeout to be acked and committed, members leave the
// group and the channels are closed. Later calls return nil.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	s.cancelClosing()
	s.subs.Wait()
	s.stopTransport()
	return nil
}

// readerMaxWait is the socket deadline of a partition fetch. kafka-go asks
// the broker to hold a fetch for this minus 1s (its assumed round trip), so
// 1.5s long-polls for 500ms and leaves a loaded broker a second to answer;
// a shorter value leaves a quarter of itself, and a busy broker then trips
// the deadline and forces a reconnect.
const readerMaxWait = 1500 * time.Millisecond

// commitTimeout bounds one offset commit or group leave.
const commitTimeout = 10 * time.Second

// subscription is one Subscribe call: one group member on one topic.
type subscription struct {
	s      *Subscriber
	ctx    context.Context // the caller's; parent of message contexts
	topic  string
	group  *kafkago.ConsumerGroup
	out    chan *message.Message
	logger watermill.LoggerAdapter

	commits *committer
	joined  atomic.Bool // a generation was had

	// readers counts partition readers being closed in the background; see
	// consume.
	readers sync.WaitGroup
}

// run follows the group's generations until the subscription stops, then
// leaves the group and closes out once no partition goroutine can send.
func (sub *subscription) run() {
	stop, cancel := context.WithCancel(sub.ctx)
	defer cancel()
	unlink := context.AfterFunc(sub.s.closing, cancel)
	defer unlink()

	stopCommits := make(chan struct{})
	commitsDone := make(chan struct{})
	go func() {
		defer close(commitsDone)
		sub.commits.run(stopCommits)
	}()

	// Generation.Start runs a function it no longer tracks when the
	// generation has already ended, so partition goroutines are counted here
	// as well: out may only be closed after all of them returned.
	var partitions sync.WaitGroup
	member := ""
	for {
		gen, err := sub.group.Next(stop)
		if err != nil {
			if stop.Err() != nil || errors.Is(err, kafkago.ErrGroupClosed) {
				break
			}
			// The group retries on its own, with JoinGroupBackoff. A
			// rebalance in progress is routine: another member came or went.
			if errors.Is(err, kafkago.RebalanceInProgress) {
				sub.logger.Debug("consumer group rebalancing", nil)
			} else {
				sub.logger.Error("join consumer group", err, nil)
			}
			continue
		}
		member = gen.MemberID
		sub.joined.Store(true)
		sub.logger.Debug("joined consumer group", watermill.LogFields{
			"generation": gen.ID, "member": gen.MemberID, "partitions": len(gen.Assignments[sub.topic]),
		})
		for _, pa := range gen.Assignments[sub.topic] {
			partitions.Add(1)
			gen.Start(func(genCtx context.Context) {
				defer partitions.Done()
				sub.consume(stop, genCtx, gen, pa)
			})
		}
	}

	// Close ends the generation, waits for the partition goroutines (they
	// are draining already, stop is done; each flushes its commits) and
	// leaves the group.
	if err := sub.group.Close(); err != nil {
		sub.logger.Error("leave consumer group", err, nil)
	}
	partitions.Wait()
	close(stopCommits)
	<-commitsDone
	sub.leave(member)
	close(sub.out)
	sub.readers.Wait()
}

// leave makes sure member left the group. kafka-go's ConsumerGroup skips
// LeaveGroup when it is closed while reporting a failed join or sync (a
// rebalance in progress); the coordinator would then wait for the member
// until its rebalance or session timeout, stalling every other member. When
// kafka-go did leave, this gets UnknownMemberID, which is fine.
func (sub *subscription) leave(member string) {
	if member == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	_, err := sub.s.client.LeaveGroup(ctx, &kafkago.LeaveGroupRequest{
		GroupID: sub.s.cfg.ConsumerGroup,
		Members: []kafkago.LeaveGroupRequestMember{{ID: member}},
	})
	if err != nil {
		sub.logger.Debug("leave consumer group", watermill.LogFields{"member": member, "err": err.Error()})
	}
}

// consume delivers one partition from its assigned offset until the
// generation ends or the subscription stops.
func (sub *subscription) consume(stop, genCtx context.Context, gen *kafkago.Generation, pa kafkago.PartitionAssignment) {
	// Runs last: the next owner must start after everything handled here.
	defer sub.commits.flush(pa.ID)

	// done ends fetching: the partition may belong to another member soon.
	done, cancel := context.WithCancel(stop)
	defer cancel()
	unlink := context.AfterFunc(genCtx, cancel)
	defer unlink()
	if done.Err() != nil {
		return
	}

	logger := sub.logger.With(watermill.LogFields{"partition": pa.ID})
	info, errs := kafkaLoggers(logger)
	// A Reader without a GroupID reads one partition from an offset we set
	// and never commits; committing is ours, through the generation.
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:         sub.s.cfg.Brokers,
		Dialer:          sub.s.dialer,
		Topic:           sub.topic,
		Partition:       pa.ID,
		MaxWait:         readerMaxWait,
		ReadLagInterval: -1, // no lag goroutine: it would outlive Close
		Logger:          info,
		ErrorLogger:     errs,
	})
	// Reader.Close waits for the fetch in flight, which does not notice
	// cancellation, up to readerMaxWait. The partition is not ours any more
	// and the member must rejoin quickly, so the reader closes in the
	// background; run waits for it before returning.
	defer func() {
		sub.readers.Add(1)
		go func() {
			defer sub.readers.Done()
			if err := r.Close(); err != nil {
				logger.Error("close partition reader", err, nil)
			}
		}()
	}()
	// pa.Offset is the group's committed offset, or FirstOffset for a
	// partition the group never committed.
	if err := r.SetOffset(pa.Offset); err != nil {
		logger.Error("seek partition", err, watermill.LogFields{"offset": pa.Offset})
		return
	}

	p := newPartition(sub, done, gen, pa.ID, logger)
	// Runs before the flush: every lane has stopped adding offsets.
	defer p.wait()
	for {
		record, err := r.FetchMessage(done)
		if err != nil {
			if done.Err() != nil {
				return
			}
			// The reader reconnects by itself; this is only a report.
			logger.Error("fetch", err, nil)
			if !clock.Sleep(done, time.Second) {
				return
			}
			continue
		}
		if !p.dispatch(record) {
			return
		}
	}
}
