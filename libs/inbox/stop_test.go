package inbox_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/ringback/ringback/libs/bus/inproc"
	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/inbox"
)

// A consumer told to stop while it still subscribes sees the bus close
// under it (the processes close the bus on the way out): that is a stop,
// not a failure. The same error while running is one.
func TestABusClosedByTheStopIsNotAFailure(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := func(context.Context, envelope.Envelope) error { return nil }
	closedBus := func() inbox.Subscribers {
		bus := inproc.New(watermill.NopLogger{})
		_ = bus.Close()
		return func(g string) (message.Subscriber, error) { return bus.Subscriber(g), nil }
	}
	cfg := inbox.Config{Name: "stop-test", Topics: []string{"t"}, Log: log}

	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	if err := inbox.Consume(stopped, closedBus(), cfg, h); err != nil {
		t.Fatalf("stopped consumer: got %v, want nil", err)
	}
	err := inbox.Consume(context.Background(), closedBus(), cfg, h)
	if !errors.Is(err, inproc.ErrClosed) {
		t.Fatalf("running consumer on a closed bus: got %v, want %v", err, inproc.ErrClosed)
	}
}

// endingSubscriber's subscriptions end by themselves at once, as a
// subscriber that lost its broker for good might end them.
type endingSubscriber struct{}

func (endingSubscriber) Subscribe(context.Context, string) (<-chan *message.Message, error) {
	ch := make(chan *message.Message)
	close(ch)
	return ch, nil
}

func (endingSubscriber) Close() error { return nil }

// A consumer whose subscriptions all end while it is not told to stop has
// stopped consuming: that is a failure (its caller restarts it), not a
// quiet return that would leave the service deaf.
func TestAConsumerThatStopsByItselfFails(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := func(context.Context, envelope.Envelope) error { return nil }
	subs := func(string) (message.Subscriber, error) { return endingSubscriber{}, nil }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := inbox.Consume(ctx, subs, inbox.Config{Name: "ending", Topics: []string{"t"}, Log: log}, h)
	if !errors.Is(err, inbox.ErrStopped) {
		t.Fatalf("got %v, want %v", err, inbox.ErrStopped)
	}
}
