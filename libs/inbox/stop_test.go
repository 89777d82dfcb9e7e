package inbox_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

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
