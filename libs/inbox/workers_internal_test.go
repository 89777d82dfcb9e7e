package inbox

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/envelope"
)

// Messages handled one after another reuse one worker; as many at once
// get as many; a panic is the handler's error; close ends every worker.
func TestWorkersOutliveAMessage(t *testing.T) {
	var started atomic.Int32
	var gate chan struct{}
	w := newWorkers(func(_ context.Context, e envelope.Envelope) error {
		started.Add(1)
		switch e.Type {
		case "panic":
			panic("boom")
		case "wait":
			<-gate
		}
		return nil
	})
	ctx := context.Background()
	for range 50 {
		if err := w.handle(ctx, envelope.Envelope{Type: "one"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.count(); n != 1 {
		t.Errorf("%d workers for 50 messages in a row, want 1", n)
	}
	gate = make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { _ = w.handle(ctx, envelope.Envelope{Type: "wait"}) })
	}
	for started.Load() < 58 {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	if n := w.count(); n != 8 {
		t.Errorf("%d workers after 8 messages at once, want 8", n)
	}
	err := w.handle(ctx, envelope.Envelope{Type: "panic"})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("a panicking handler: %v, want its panic as the error", err)
	}
	if err := w.handle(ctx, envelope.Envelope{Type: "one"}); err != nil {
		t.Errorf("after the panic: %v", err)
	}
	done := make(chan struct{})
	go func() {
		w.close(time.Minute)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("close did not end the idle workers")
	}
	if n := w.count(); n != 0 {
		t.Errorf("%d workers after close", n)
	}
}

func (w *workers) count() int { return int(w.live.Load()) }
