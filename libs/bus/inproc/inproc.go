// Package inproc is the single-node bus: Watermill publisher and subscribers
// inside one process, with consumer groups. Every group subscribed to a
// topic receives every message once (subscribers sharing a group share the
// messages); Publish returns only when every group has acknowledged, so the
// outbox relay checkpoints only what was delivered. A nacked message is
// redelivered to its group. Messages published to a topic before any group
// subscribed are not kept: single node starts its relay after its consumers.
package inproc

import (
	"context"
	"errors"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// ErrClosed is returned by Publish and Subscribe after Close.
var ErrClosed = errors.New("inproc bus closed")

// Bus is the in-process bus. It is safe for concurrent use.
type Bus struct {
	log watermill.LoggerAdapter

	mu     sync.RWMutex
	groups map[string]map[string]*group // topic -> group name -> group
	closed chan struct{}
	once   sync.Once
}

// group is one consumer group on one topic: its subscribers take turns.
type group struct {
	in chan delivery
}

type delivery struct {
	msg  *message.Message
	done chan struct{} // closed once acked
}

// New returns an empty bus.
func New(log watermill.LoggerAdapter) *Bus {
	if log == nil {
		log = watermill.NopLogger{}
	}
	return &Bus{log: log, groups: map[string]map[string]*group{}, closed: make(chan struct{})}
}

// Publish delivers msgs in order to every group of topic, waiting for each
// group's ack of a message before sending the next.
func (b *Bus) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		b.mu.RLock()
		gs := make([]*group, 0, len(b.groups[topic]))
		for _, g := range b.groups[topic] {
			gs = append(gs, g)
		}
		b.mu.RUnlock()
		var wg sync.WaitGroup
		for _, g := range gs {
			d := delivery{msg: m.Copy(), done: make(chan struct{})}
			select {
			case g.in <- d:
			case <-b.closed:
				return ErrClosed
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case <-d.done:
				case <-b.closed:
				}
			}()
		}
		wg.Wait()
		select {
		case <-b.closed:
			return ErrClosed
		default:
		}
	}
	return nil
}

// Subscriber returns a subscriber reading as consumer group name.
func (b *Bus) Subscriber(name string) message.Subscriber { return &subscriber{bus: b, name: name} }

// Close stops the bus: subscriptions end, Publish returns ErrClosed.
func (b *Bus) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

func (b *Bus) group(topic, name string) (*group, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.closed:
		return nil, ErrClosed
	default:
	}
	if b.groups[topic] == nil {
		b.groups[topic] = map[string]*group{}
	}
	g := b.groups[topic][name]
	if g == nil {
		g = &group{in: make(chan delivery)}
		b.groups[topic][name] = g
	}
	return g, nil
}

type subscriber struct {
	bus  *Bus
	name string

	mu     sync.Mutex
	stops  []context.CancelFunc
	wg     sync.WaitGroup
	closed bool
}

// Subscribe joins the group on topic. The channel closes when ctx is done
// or the subscriber or bus closes.
func (s *subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	g, err := s.bus.group(topic, s.name)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	s.stops = append(s.stops, cancel)
	out := make(chan *message.Message)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.bus.closed:
				return
			case d := <-g.in:
				if !s.deliver(ctx, out, d) {
					// Not acked and we are stopping: hand it to another
					// subscriber of the group, or to whoever joins next.
					go func() {
						select {
						case g.in <- d:
						case <-s.bus.closed:
						}
					}()
					return
				}
			}
		}
	}()
	return out, nil
}

// deliver hands d to the consumer until it is acked; a nack redelivers.
// It returns false if it stopped before an ack.
func (s *subscriber) deliver(ctx context.Context, out chan<- *message.Message, d delivery) bool {
	for {
		m := d.msg.Copy()
		m.SetContext(ctx)
		select {
		case out <- m:
		case <-ctx.Done():
			return false
		case <-s.bus.closed:
			return false
		}
		select {
		case <-m.Acked():
			close(d.done)
			return true
		case <-m.Nacked():
			s.bus.log.Debug("message nacked, redelivering", watermill.LogFields{"uuid": m.UUID, "group": s.name})
		case <-ctx.Done():
			return s.ackedAnyway(m, d)
		case <-s.bus.closed:
			return s.ackedAnyway(m, d)
		}
	}
}

// ackedAnyway settles a race between stopping and the consumer's ack: an
// ack that is already there counts, so the message is not handed back.
func (s *subscriber) ackedAnyway(m *message.Message, d delivery) bool {
	select {
	case <-m.Acked():
		close(d.done)
		return true
	default:
		return false
	}
}

// Close ends this subscriber's subscriptions and waits for them.
func (s *subscriber) Close() error {
	s.mu.Lock()
	s.closed = true
	for _, stop := range s.stops {
		stop()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Groups says how many consumer groups have subscribed to topic, so a
// caller can hold its first publish until its consumers listen.
func (b *Bus) Groups(topic string) int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.groups[topic])
}
