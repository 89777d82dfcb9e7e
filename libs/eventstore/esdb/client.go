package esdb

import (
	"context"
	"fmt"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/ringback/ringback/libs/eventstore"
)

// The client library (v4.2.0) hands every request to one goroutine over an
// unbuffered channel. While that goroutine rediscovers a server it reads
// nothing, so requests wait without looking at their context; when the
// discovery fails it exits for good, and the requests waiting then wait for
// ever; Close then closes the channel under them, which panics ("send on
// closed channel"). The kurrenttest harness shows all three by stopping
// under concurrent calls (TestServerGoesAway). So the adapter:
//
//   - runs each call that reaches that channel (the start of every call,
//     and a read's Recv, which reports an unavailable server through it) in
//     a goroutine of its own, and returns when ctx is done or the store is
//     closed even if the library has not;
//   - replaces a client that gave up (it answers "connection closed"
//     without having been closed) with a new one, so the store works again
//     once the server is back instead of failing until the pod restarts;
//   - closes a client only when no call is inside it, and otherwise leaves
//     it to the garbage collector: a blocked goroutine leaks, the process
//     does not crash.

// closeGrace is how long Close waits for calls still inside the client once
// their contexts are cancelled; those in a request end at once, only those
// stuck in the library's channel take longer, possibly for ever.
const closeGrace = 2 * time.Second

// conn is one client of the library and the calls inside it.
type conn struct {
	client   *esdb.Client
	inflight int           // guarded by Store.mu
	idle     chan struct{} // closed when inflight drops to 0 after the store closes
}

// acquire returns the current client with a call counted in it, or
// ErrClosed.
func (s *Store) acquire() (*conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, eventstore.ErrClosed
	}
	s.conn.inflight++
	return s.conn, nil
}

// release ends a call counted by acquire. A call that found its client had
// given up replaces it, unless another call did already.
func (s *Store) release(c *conn, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.inflight--
	if c.inflight == 0 && c.idle != nil {
		close(c.idle)
		c.idle = nil
	}
	if e, _ := esdb.FromError(err); err == nil || e.Code() != esdb.ErrorCodeConnectionClosed || s.closing || s.conn != c {
		return
	}
	// The client gave up after a failed discovery. Its own goroutine is
	// gone, so it is not closed: closing panics any call still waiting in
	// it. A new client rediscovers the server on its first call.
	client, nerr := esdb.NewClient(s.conf)
	if nerr != nil {
		return // the same configuration was accepted before
	}
	s.conn = &conn{client: client}
}

// do runs op with the current client in a goroutine of its own and returns
// its result, or ctx.Err() when ctx ends first, or ErrClosed when the store
// closes first; op's context ends in both cases. op must finish every use
// of the client (a read's Recv loop included) before it returns.
func do[T any](ctx context.Context, s *Store, op func(context.Context, *esdb.Client) (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	c, err := s.acquire()
	if err != nil {
		return zero, err
	}
	opCtx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.closed, cancel)
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1) // buffered: op's goroutine never waits for a caller that left
	go func() {
		defer cancel()
		defer stop()
		v, err := op(opCtx, c.client)
		s.release(c, err)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-s.closed.Done():
		return zero, eventstore.ErrClosed
	}
}

// shutdown stops new calls, cancels those in flight (by the caller: it
// cancels s.closed) and closes the current client once no call is inside
// it, waiting at most closeGrace.
func (s *Store) shutdown() error {
	s.mu.Lock()
	s.closing = true
	c := s.conn
	var idle chan struct{}
	if c.inflight > 0 {
		c.idle = make(chan struct{})
		idle = c.idle
	}
	s.mu.Unlock()
	s.close()
	if idle != nil {
		select {
		case <-idle:
		case <-time.After(closeGrace):
			s.mu.Lock()
			n := c.inflight
			s.mu.Unlock()
			return fmt.Errorf("close esdb client: %d calls still blocked inside the client library after %v; the client is left open rather than closed under them", n, closeGrace)
		}
	}
	if err := c.client.Close(); err != nil {
		return fmt.Errorf("close esdb client: %w", err)
	}
	return nil
}
