package personal

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/ringback/ringback/libs/envelope"
)

// OpenMessage replaces m's payload, a message as the topics carry it
// (personal fields sealed), with its opened form (plaintext, or Erased).
// inbox.Consume calls it (inbox.Opener) for the messages its consumer
// keeps, after leaving out the event types it does not read: those are
// never opened. An error (the keys cannot be asked for now) leaves m as it
// was, to be delivered again.
func (s *Sealer) OpenMessage(m *message.Message) error {
	id := m.Metadata.Get(envelope.KeyID)
	if id == "" {
		id = m.UUID
	}
	d, err := s.OpenEvent(m.Context(), id, m.Metadata.Get(envelope.KeyType), m.Payload)
	if err != nil {
		return fmt.Errorf("open personal data: %w", err)
	}
	m.Payload = d
	return nil
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
