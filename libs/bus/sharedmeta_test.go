package bus_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/ringback/ringback/libs/bus"
	"github.com/ringback/ringback/libs/bus/inproc"
)

// Two groups receive one message on the in-process bus, which shares its
// metadata between them: the one whose handler fails has the reason
// written into metadata of its own as it is poisoned, and the other,
// reading its metadata meanwhile (go test -race), never sees it.
func TestPoisonWritesMetadataOfItsOwn(t *testing.T) {
	b := inproc.New(watermill.NopLogger{})
	r, err := bus.NewRouter(bus.RouterConfig{Retry: fastRetry, CloseTimeout: time.Second}, watermill.NopLogger{}, b)
	if err != nil {
		t.Fatal(err)
	}
	r.AddConsumerHandler("fails", topic, b.Subscriber("fails"), func(*message.Message) error {
		return errors.New("cannot apply event")
	})
	poisoned := make(chan struct{})
	seen := make(chan message.Metadata, 1)
	r.AddConsumerHandler("reads", topic, b.Subscriber("reads"), func(msg *message.Message) error {
		for {
			for k, v := range msg.Metadata { // read while the other group is poisoned
				_, _ = k, v
			}
			select {
			case <-poisoned:
				seen <- msg.Metadata
				return nil
			default:
				time.Sleep(100 * time.Microsecond)
			}
		}
	})
	poison := run(t, r, b)

	msg := message.NewMessage("m1", []byte("payload"))
	msg.Metadata.Set("ce_type", "ringback.test.v1.Happened")
	go func() { _ = b.Publish(topic, msg) }()
	select {
	case p := <-poison:
		if p.Metadata.Get(middleware.ReasonForPoisonedKey) != "cannot apply event" || p.Metadata.Get("ce_type") != "ringback.test.v1.Happened" {
			t.Errorf("poisoned with metadata %v", p.Metadata)
		}
		p.Ack()
		close(poisoned)
	case <-time.After(wait):
		t.Fatal("nothing poisoned")
	}
	select {
	case md := <-seen:
		if _, ok := md[middleware.ReasonForPoisonedKey]; ok || md.Get("ce_type") != "ringback.test.v1.Happened" {
			t.Errorf("the other group's metadata became %v", md)
		}
	case <-time.After(wait):
		t.Fatal("the reading group never finished")
	}
}
