package relay_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
	"github.com/ringback/ringback/libs/relay"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// downBus fails every publish until up is closed: a bus that is
// unreachable for a while.
type downBus struct {
	up        chan struct{}
	published chan int
}

func (b downBus) Publish(_ string, msgs ...*message.Message) error {
	select {
	case <-b.up:
		b.published <- len(msgs)
		return nil
	default:
		return fmt.Errorf("bus down")
	}
}

func (downBus) Close() error { return nil }

// While the bus is down the relay's lag grows with the age of the oldest
// unpublished event; once it is back the lag returns to 0 and the events
// are counted.
func TestMetricsLag(t *testing.T) {
	st, err := embedded.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for i := range 3 {
		ev := &callbackv1.CallbackCancelled{CallbackId: "c", Reason: fmt.Sprint(i), At: timestamppb.Now()}
		_, err := eventstore.Execute(ctx, st, "intake-callback-1", eventstore.Aggregate[int]{Evolve: func(n int, _ proto.Message) int { return n + 1 }},
			eventstore.Cause{ID: fmt.Sprint("m", i)}, func(int) ([]proto.Message, error) { return []proto.Message{ev}, nil })
		if err != nil {
			t.Fatal(err)
		}
	}

	reg := prometheus.NewRegistry()
	m, err := relay.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	bus := downBus{up: make(chan struct{}), published: make(chan int, 10)}
	r := relay.New(st, bus, relay.InStore(st, "relay-metrics"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.Metrics = m
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	gauge := func(name string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no " + name)
		return 0
	}
	lag := func() float64 { return gauge("ringback_relay_lag_seconds") }
	deadline := time.Now().Add(5 * time.Second)
	for lag() < 0.2 {
		if time.Now().After(deadline) {
			t.Fatalf("lag %v s with the bus down for 5s", lag())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A plain publisher retries the batch it read before reading more, and
	// that batch holds what the store's feed had handed over when it was
	// cut: one to three of the events, depending on the feed's timing.
	if n := gauge("ringback_relay_unpublished_events"); n < 1 || n > 3 {
		t.Errorf("%v events unpublished with the bus down, want the 1 to 3 read", n)
	}

	close(bus.up)
	for total := 0; total < 3; {
		select {
		case n := <-bus.published:
			total += n
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of 3 events published after the bus came back", total)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); lag() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("lag %v s after the bus came back", lag())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := gauge("ringback_relay_unpublished_events"); n != 0 {
		t.Errorf("%v events unpublished after all were acknowledged", n)
	}
	if n := testutil.ToFloat64(m.Published()); n != 3 {
		t.Errorf("published counter %v, want 3", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
