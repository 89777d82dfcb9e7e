// Package inproc is the single-node bus: Watermill publisher and subscriber
// semantics inside one process, with consumer groups, and a Publish that
// returns only once every group has acked, so the outbox relay checkpoints
// only what was delivered. Nothing is kept across restarts: the event store
// is durable and the relay publishes again from its checkpoint.
//
// Semantics, per topic:
//   - A group is subscribed to a topic from its first Subscribe (or
//     SubscribeInitialize) on it until the bus closes: in one process the
//     services live as long as the bus, and a group between two
//     subscriptions keeps its messages.
//   - Publish hands every message to each subscribed group once (but
//     those a group left out, Subscriber.LeaveOut); the
//     subscribers of one group compete for its messages (in practice a group
//     has one). A nack, or a subscription ending before the ack, puts the
//     message back at the head of its group's queue, so with one subscriber
//     a group sees its messages in publish order, one at a time.
//   - Publish blocks until every group subscribed when it was called has
//     acked every message, the first message's context is done, or the bus
//     closes (ErrClosed).
//   - A message published to a topic no group subscribed to is dropped: the
//     relay starts after the services have subscribed (see Groups).
//
// Handlers must not publish to the bus: Publish would wait for a group that
// may be the one running the handler. (They do not: handlers append to the
// event store and the relay publishes.)
//
// The package imports nothing but Watermill.
package inproc

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// ErrClosed is returned by Publish, Subscribe and SubscribeInitialize after
// the bus (or, for the latter two, the subscriber) was closed.
var ErrClosed = errors.New("inproc: closed")

// redeliveryDelay keeps a handler that always nacks from spinning a core.
const redeliveryDelay = 10 * time.Millisecond

// Bus is the in-process bus. It is a message.Publisher; Subscriber gives a
// message.Subscriber in a group. Safe for concurrent use.
type Bus struct {
	logger watermill.LoggerAdapter
	done   context.Context // cancelled by Close, ending every subscription
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	topics map[string]map[string]*queue // topic -> group -> queue
	seq    uint64                       // order of deliveries, for requeueing in place
}

var _ message.Publisher = (*Bus)(nil)

// New returns an empty bus.
func New(logger watermill.LoggerAdapter) *Bus {
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	done, cancel := context.WithCancel(context.Background())
	return &Bus{
		logger: logger.With(watermill.LogFields{"component": "inproc-bus"}),
		done:   done,
		cancel: cancel,
		topics: make(map[string]map[string]*queue),
	}
}

// queue is one group's pending messages of one topic. items is guarded by
// Bus.mu.
type queue struct {
	topic, group string
	items        []*delivery
	wake         chan struct{} // capacity 1: items were added
	// leave says the group does not read messages of a type
	// (Subscriber.LeaveOut): they are not queued for the group, nor waited
	// for. Guarded by Bus.mu.
	leave func(eventType string) bool
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// delivery is one published message on its way to every group.
type delivery struct {
	seq     uint64
	msg     *message.Message
	pending int   // groups yet to ack, guarded by Bus.mu
	err     error // set when the bus closed first, guarded by Bus.mu
	done    chan struct{}
}

// resolve records one group's outcome. Call with Bus.mu held.
func (d *delivery) resolve(err error) {
	if err != nil && d.err == nil {
		d.err = err
	}
	d.pending--
	if d.pending == 0 {
		close(d.done)
	}
}

// Publish delivers msgs, in order, to every group subscribed to topic and
// returns when each group has acked each message. It returns early with the
// context's error when the first message's context is done (the messages
// may still be delivered), and ErrClosed when the bus closes first.
func (b *Bus) Publish(topic string, msgs ...*message.Message) error {
	return <-b.PublishAsync(topic, msgs...)
}

// PublishAsync hands msgs to every group of topic at once, in order after
// any earlier call, and returns a channel that yields the outcome once every
// group has acked them (what Publish waits for). A caller such as the relay
// keeps several batches in flight this way, so a slow group delays only its
// own queue, not the fast groups' next messages.
func (b *Bus) PublishAsync(topic string, msgs ...*message.Message) <-chan error {
	out := make(chan error, 1)
	if len(msgs) == 0 {
		out <- nil
		return out
	}
	wait, err := b.enqueue(topic, msgs)
	if err != nil || wait == nil {
		out <- err
		return out
	}
	go func() { out <- wait() }()
	return out
}

func (b *Bus) enqueue(topic string, msgs []*message.Message) (func() error, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	groups := b.topics[topic]
	if len(groups) == 0 {
		b.mu.Unlock()
		b.logger.Debug("no subscribers, messages dropped", watermill.LogFields{"topic": topic, "messages": len(msgs)})
		return nil, nil
	}
	deliveries := make([]*delivery, len(msgs))
	for i, msg := range msgs {
		b.seq++
		d := &delivery{msg: msg, done: make(chan struct{}), seq: b.seq}
		typ := msg.Metadata.Get(TypeKey)
		for _, q := range groups {
			if q.leave == nil || !q.leave(typ) {
				q.items = append(q.items, d)
				d.pending++
			}
		}
		if d.pending == 0 {
			close(d.done)
		}
		deliveries[i] = d
	}
	for _, q := range groups {
		q.signal()
	}
	b.mu.Unlock()

	ctx := msgs[0].Context()
	return func() error {
		for _, d := range deliveries {
			select {
			case <-d.done:
			case <-ctx.Done():
				return fmt.Errorf("publish to %s: %w", topic, ctx.Err())
			}
			b.mu.Lock()
			err := d.err
			b.mu.Unlock()
			if err != nil {
				return err // only ErrClosed, unwrapped for callers comparing it
			}
		}
		return nil
	}, nil
}

// Groups says how many consumer groups are subscribed to topic, so a caller
// can hold its first publish until its consumers listen.
func (b *Bus) Groups(topic string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.topics[topic])
}

// Reads says whether any consumer group would receive a message of
// eventType published to topic now: one is subscribed and does not leave
// the type out. The relay builds and sends nothing a publish would drop.
func (b *Bus) Reads(topic, eventType string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, q := range b.topics[topic] {
		if q.leave == nil || !q.leave(eventType) {
			return true
		}
	}
	return false
}

// Close ends every subscription (their channels close; a message in flight
// goes unacked) and fails the Publish calls still waiting with ErrClosed.
// Later calls return nil.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	b.cancel()
	for _, groups := range b.topics {
		for _, q := range groups {
			for _, d := range q.items {
				d.resolve(ErrClosed)
			}
			q.items = nil
		}
	}
	return nil
}

// queue returns group's queue on topic, subscribing the group.
func (b *Bus) queue(topic, group string) (*queue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	groups := b.topics[topic]
	if groups == nil {
		groups = make(map[string]*queue)
		b.topics[topic] = groups
	}
	q := groups[group]
	if q == nil {
		q = &queue{topic: topic, group: group, wake: make(chan struct{}, 1)}
		groups[group] = q
	}
	return q, nil
}

// next takes the head of q, waiting until there is one or stop is done.
func (b *Bus) next(stop context.Context, q *queue) *delivery {
	for {
		b.mu.Lock()
		if len(q.items) > 0 {
			d := q.items[0]
			q.items = q.items[1:]
			if len(q.items) > 0 {
				q.signal() // a competing subscriber may take the rest
			}
			b.mu.Unlock()
			return d
		}
		b.mu.Unlock()
		select {
		case <-q.wake:
		case <-stop.Done():
			return nil
		}
	}
}

// requeue puts d back at the head of q for another delivery.
func (b *Bus) requeue(q *queue, d *delivery) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		d.resolve(ErrClosed)
		return
	}
	// Back in its place: lanes may hand messages back in any order, and
	// a stream's messages must still come in the order published.
	i := sort.Search(len(q.items), func(i int) bool { return q.items[i].seq > d.seq })
	q.items = slices.Insert(q.items, i, d)
	q.signal()
}

func (b *Bus) ack(d *delivery) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d.resolve(nil)
}

// Subscriber returns a subscriber in group. Subscribers of one group share
// its messages; every group gets every message. The subscriber also
// implements message.SubscribeInitializer.
func (b *Bus) Subscriber(group string) message.Subscriber {
	closing, cancel := context.WithCancel(context.Background())
	return &Subscriber{bus: b, group: group, closing: closing, cancel: cancel}
}

// Subscriber is one handle on a group, from Bus.Subscriber.
type Subscriber struct {
	bus     *Bus
	group   string
	closing context.Context // cancelled by Close
	cancel  context.CancelFunc

	mu     sync.Mutex
	closed bool
	subs   sync.WaitGroup
}

var (
	_ message.Subscriber           = (*Subscriber)(nil)
	_ message.SubscribeInitializer = (*Subscriber)(nil)
)

// SubscribeInitialize subscribes the group to topic without a channel yet:
// messages published meanwhile wait for a Subscribe (and their Publish
// waits with them).
func (s *Subscriber) SubscribeInitialize(topic string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	_, err := s.bus.queue(topic, s.group)
	return err
}

// Subscribe returns the group's messages of topic: one stream's (partition
// key's) messages one at a time, the next after the previous was acked, and
// up to Lanes streams at once; a nacked one comes again. The channel
// closes when ctx is done or the subscriber or bus is closed; a message not
// acked by then goes back to the group. Messages carry a context derived
// from ctx.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	q, err := s.bus.queue(topic, s.group)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	s.subs.Add(1)
	go func() {
		defer s.subs.Done()
		defer close(out)
		s.consume(ctx, q, out)
	}()
	return out, nil
}

// TypeKey is the metadata key of a message's type, as LeaveOut reads it:
// the CloudEvents Kafka binding's, which the platform's messages carry.
const TypeKey = "ce_type"

// LeaveOut subscribes the group to topic, as SubscribeInitialize does, and
// names the types of topic's messages (metadata TypeKey) it does not read:
// they are not queued for it and Publish does not wait for it to ack them.
// A consumer that acts on few of a busy topic's messages
// (inbox.Config.Only) is spared a copy, a delivery and an ack of each of
// the others. leave runs as each message is published, under the bus's
// lock. It applies to messages published after the call; nil reads them
// all.
func (s *Subscriber) LeaveOut(topic string, leave func(eventType string) bool) error {
	q, err := s.bus.queue(topic, s.group)
	if err != nil {
		return err
	}
	s.bus.mu.Lock()
	q.leave = leave
	s.bus.mu.Unlock()
	return nil
}

// Close ends the subscriber's subscriptions and waits for their channels to
// close. The group stays subscribed. Later calls return nil.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	s.closed = true
	s.cancel()
	s.mu.Unlock()
	s.subs.Wait()
	return nil
}

func (s *Subscriber) consume(ctx context.Context, q *queue, out chan<- *message.Message) {
	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	unlinkBus := context.AfterFunc(s.bus.done, cancel)
	defer unlinkBus()
	unlinkSub := context.AfterFunc(s.closing, cancel)
	defer unlinkSub()

	// Lanes: messages of one stream (partition key) go to one lane, in
	// order, one at a time; different streams' messages are in flight
	// together, so the consumer handles them concurrently (Watermill's
	// router runs each on its own goroutine) and their writes share the
	// store's group commit. Messages without a key all take lane 0, in order.
	lanes := make([]chan *delivery, Lanes)
	var wg sync.WaitGroup
	for i := range lanes {
		// Buffered, so a stream with messages waiting does not hold back
		// the other lanes; on stop each lane hands its messages back.
		lanes[i] = make(chan *delivery, laneBuffer)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range lanes[i] {
				s.deliver(ctx, stop, q, d, out) // on stop it hands d back
			}
		}()
	}
	defer wg.Wait()
	defer func() {
		for _, l := range lanes {
			close(l)
		}
	}()
	for {
		d := s.bus.next(stop, q)
		if d == nil {
			return
		}
		select {
		case lanes[lane(d.msg)] <- d:
		case <-stop.Done():
			s.bus.requeue(q, d)
			return
		}
	}
}

// Lanes is how many streams one subscription has in flight at once.
const Lanes = 16

// laneBuffer bounds the messages waiting in one lane.
const laneBuffer = 64

// partitionKey is the metadata key naming a message's stream.
const partitionKey = "partition_key"

func lane(m *message.Message) int {
	key := m.Metadata.Get(partitionKey)
	if key == "" {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % Lanes)
}

// deliver hands copies of d to out until one is acked. It reports false when
// the subscription ended first, having put d back for the group.
func (s *Subscriber) deliver(ctx, stop context.Context, q *queue, d *delivery, out chan<- *message.Message) bool {
	for {
		// A message of its own (its acks, its context), sharing the
		// published message's metadata, as it shares its payload: copying
		// it for every group and every attempt was 6 % of what the
		// platform allocated per callback (issue 13). Consumers only read
		// it; the one writer, the poison queue, writes to a copy
		// (bus.NewRouter). A Publish hands its messages over: the
		// publisher does not change them after.
		msg := message.NewMessage(d.msg.UUID, d.msg.Payload)
		msg.Metadata = d.msg.Metadata
		msgCtx, cancelMsg := context.WithCancel(ctx)
		msg.SetContext(msgCtx)

		select {
		case out <- msg:
		case <-stop.Done():
			cancelMsg()
			s.bus.requeue(q, d)
			return false
		}

		var acked, nacked bool
		select {
		case <-msg.Acked():
			acked = true
		case <-msg.Nacked():
			nacked = true
		case <-stop.Done():
			// An ack that raced the stop still counts.
			select {
			case <-msg.Acked():
				acked = true
			default:
			}
		}
		cancelMsg() // Watermill: ack and nack cancel the message's context
		switch {
		case acked:
			s.bus.ack(d)
			return true
		case !nacked:
			s.bus.requeue(q, d)
			return false
		}

		t := time.NewTimer(redeliveryDelay)
		select {
		case <-t.C:
		case <-stop.Done():
			t.Stop()
			s.bus.requeue(q, d)
			return false
		}
	}
}
