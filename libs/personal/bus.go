package personal

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/ringback/ringback/libs/envelope"
)

// Subscriber opens the personal fields of every message it delivers, so
// that the topics carry ciphertext and consumers see plaintext (or Erased).
// A message whose keys cannot be asked for now is nacked, to come again.
type Subscriber struct {
	message.Subscriber
	Sealer *Sealer
	Log    *slog.Logger // nil: failures to open are not logged
}

// Subscribe implements message.Subscriber. The goroutine it starts ends
// when the inner channel closes or ctx is done.
func (s Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	in, err := s.Subscriber.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for m := range in {
			id := m.Metadata.Get(envelope.KeyID)
			if id == "" {
				id = m.UUID
			}
			d, err := s.Sealer.OpenEvent(ctx, id, m.Metadata.Get(envelope.KeyType), m.Payload)
			if err != nil {
				if s.Log != nil {
					s.Log.Warn("open personal data", "topic", topic, "event", m.UUID, "err", err)
				}
				m.Nack()
				continue
			}
			m.Payload = d
			select {
			case out <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// Publisher seals the personal fields of what it publishes: for a consumer
// that sends on a message it received opened (the poison topic), so that
// it leaves sealed as it came. The messages given are not changed.
type Publisher struct {
	message.Publisher
	Sealer *Sealer
}

// Publish implements message.Publisher.
func (p Publisher) Publish(topic string, msgs ...*message.Message) error {
	out := make([]*message.Message, len(msgs))
	for i, m := range msgs {
		c := m.Copy()
		d, err := p.Sealer.SealData(context.Background(), m.Metadata.Get(envelope.KeyType), m.Payload,
			m.Metadata.Get(envelope.KeyCorrelation))
		if err != nil {
			return fmt.Errorf("publish %s: %w", topic, err)
		}
		c.Payload = d
		out[i] = c
	}
	return p.Publisher.Publish(topic, out...)
}
