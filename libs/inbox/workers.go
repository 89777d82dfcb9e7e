package inbox

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringback/ringback/libs/envelope"
)

// workers run a consumer's handler on goroutines that outlive a message.
// Watermill's router starts a goroutine for each message, and a handler
// (a decode, a store read, sealing, an append) grew that goroutine's stack
// from its first few kilobytes every time: copying stacks as they grew
// was 7 % of the platform's CPU per callback in the thin-path benchmark
// (issue 13). A message goes to a worker that is idle, else to a new one;
// a worker idle for idleWorker ends, and all end when the consumer stops,
// so there are as many as the consumer lately had messages in flight.
type workers struct {
	h    Handler
	jobs chan job // unbuffered: a send succeeds only into an idle worker
	stop chan struct{}
	wg   sync.WaitGroup
	live atomic.Int32 // workers running, for the tests
	free atomic.Int32 // workers done with their message, idle or nearly
}

type job struct {
	ctx  context.Context
	env  envelope.Envelope
	done chan error
}

// idleWorker is how long a worker waits for another message.
const idleWorker = 2 * time.Second

func newWorkers(h Handler) *workers {
	return &workers{h: h, jobs: make(chan job), stop: make(chan struct{})}
}

// handle runs h on a worker and returns what it returned.
func (w *workers) handle(ctx context.Context, env envelope.Envelope) error {
	j := job{ctx: ctx, env: env, done: make(chan error, 1)}
	select {
	case w.jobs <- j:
	default:
		if !w.handOff(j) {
			w.wg.Add(1)
			w.live.Add(1)
			go w.work(j)
		}
	}
	return <-j.done
}

// handOff waits a moment for a worker that is just done with a message
// (the next message of a stream often comes right after the last).
func (w *workers) handOff(j job) bool {
	if w.free.Load() == 0 {
		return false
	}
	t := time.NewTimer(time.Millisecond)
	defer t.Stop()
	select {
	case w.jobs <- j:
		return true
	case <-t.C:
		return false
	}
}

func (w *workers) work(j job) {
	defer w.wg.Done()
	defer w.live.Add(-1)
	idle := time.NewTimer(idleWorker)
	defer idle.Stop()
	for {
		err := w.run(j)
		w.free.Add(1)
		j.done <- err
		idle.Reset(idleWorker)
		select {
		case j = <-w.jobs:
			w.free.Add(-1)
		case <-idle.C:
			w.free.Add(-1)
			return
		case <-w.stop:
			w.free.Add(-1)
			return
		}
	}
}

// run is h, with a panic turned into the handler's error as the router's
// Recoverer would (it runs on the message's goroutine, not this one): the
// message is retried and then set aside, and the consumer goes on.
func (w *workers) run(j job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return w.h(j.ctx, j.env)
}

// close ends the idle workers and waits for them, for at most timeout; a
// worker still in a handler then ends when the handler returns.
func (w *workers) close(timeout time.Duration) {
	close(w.stop)
	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
