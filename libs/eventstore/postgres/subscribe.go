package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ringback/ringback/libs/eventstore"
)

// channel is the NOTIFY channel appends are announced on.
const channel = "eventstore"

// pageSize is how many events a subscription reads per query: large enough
// that a rebuild is not a round trip per event, small enough that a page of
// ordinary events stays a few hundred KiB.
const pageSize = 1000

// heldBackoff is the first delay before reading again when committed events
// are held back by the horizon; it doubles up to the poll interval.
const heldBackoff = 2 * time.Millisecond

// SubscribeAll implements eventstore.Store. It reads pages in (tx, id) order
// below the transaction horizon (see the package doc), then sleeps until it
// is woken or polls. fn gets a context that also ends when the store closes,
// so a handler blocked on it does not keep a subscription alive past Close.
func (s *Store) SubscribeAll(ctx context.Context, from eventstore.Position, fn func(context.Context, eventstore.RecordedEvent) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.closing, cancel)()
	if err := s.listen(); err != nil {
		return fmt.Errorf("subscribe all: %w", err)
	}

	pos := from
	backoff := heldBackoff
	for {
		// Taken before the read: a wake-up during the read is not lost.
		wake := s.wakeChan()
		evs, err := s.readAll(sctx, pos)
		if err != nil {
			if sctx.Err() != nil {
				return s.ended(ctx)
			}
			return fmt.Errorf("subscribe all: %w", s.failed(ctx, err))
		}
		for _, e := range evs {
			if err := fn(sctx, e); err != nil {
				if sctx.Err() != nil {
					return s.ended(ctx) // most likely the same ending
				}
				return fmt.Errorf("subscribe all: handle %s@%d: %w", e.Stream, e.Revision, err)
			}
			pos = e.Position
		}
		if len(evs) == pageSize {
			continue
		}
		// Caught up with the horizon. If committed events wait behind it, a
		// transaction without a notification of ours (a foreign one, or an
		// append that failed in another process) may be all that holds them:
		// look again soon rather than after a whole poll interval.
		delay := s.poll
		held, err := s.heldBack(sctx, pos)
		switch {
		case err != nil && sctx.Err() != nil:
			return s.ended(ctx)
		case err != nil:
			return fmt.Errorf("subscribe all: %w", s.failed(ctx, err))
		case held:
			delay = min(backoff, s.poll)
			backoff *= 2
		default:
			backoff = heldBackoff
		}
		timer := time.NewTimer(delay)
		select {
		case <-wake:
		case <-timer.C:
		case <-sctx.Done():
			timer.Stop()
			return s.ended(ctx)
		}
		timer.Stop()
	}
}

// readAll reads the next page after pos, below the horizon. The horizon and
// the rows come from one statement, so from one snapshot: every transaction
// below its xmin has ended before the snapshot was taken, and the rows it
// wrote are in it.
func (s *Store) readAll(ctx context.Context, pos eventstore.Position) ([]eventstore.RecordedEvent, error) {
	rows, err := s.pool.Query(ctx, `
SELECT `+eventColumns+` FROM eventstore.events
 WHERE (tx, id) > ($1, $2) AND tx < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY tx, id LIMIT $3`, pos.Commit, prepareID(pos), pageSize)
	if err != nil {
		return nil, err
	}
	return scanEvents(rows)
}

// heldBack reports whether committed events after pos exist, that is events
// the horizon holds back.
func (s *Store) heldBack(ctx context.Context, pos eventstore.Position) (bool, error) {
	var held bool
	err := s.pool.QueryRow(ctx,
		"SELECT EXISTS (SELECT 1 FROM eventstore.events WHERE (tx, id) > ($1, $2))",
		pos.Commit, prepareID(pos)).Scan(&held)
	return held, err
}

// prepareID is pos.Prepare as a row id; no row id exceeds MaxInt64.
func prepareID(pos eventstore.Position) int64 {
	return int64(min(pos.Prepare, math.MaxInt64))
}

// ended says why a subscription's context ended: the caller's, or Close.
func (s *Store) ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return fmt.Errorf("subscribe all: %w", eventstore.ErrClosed)
}

// wakeChan returns the channel the next wake-up closes.
func (s *Store) wakeChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wake
}

// broadcast wakes every subscription of this store.
func (s *Store) broadcast() {
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

// appended is called when an append's transaction has ended: it wakes this
// store's subscriptions at once and asks the notifier to tell other pods.
func (s *Store) appended() {
	s.broadcast()
	select {
	case s.notify <- struct{}{}:
	default: // a notification is pending already; it will be sent after this commit
	}
}

// notifier sends one NOTIFY for every burst of appends, after their commits.
// A request that arrives while a NOTIFY is under way gets the next one, so
// every commit is followed by a NOTIFY sent after it. Asynchronous commit:
// the notification is a hint and not worth a WAL flush.
func (s *Store) notifier() {
	defer s.workers.Done()
	for {
		select {
		case <-s.notify:
		case <-s.closing.Done():
			return
		}
		_, err := s.pool.Exec(s.closing,
			"SET LOCAL synchronous_commit = off; SELECT pg_notify('"+channel+"', '')")
		if err != nil && s.closing.Err() == nil {
			s.log.Warn("event store could not notify other processes of an append; their subscriptions will poll",
				"error", err)
		}
	}
}

// listen starts the listener unless it runs. It fails only after Close.
func (s *Store) listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.ErrClosed
	}
	if !s.listening {
		s.listening = true
		s.workers.Add(1)
		go s.listener()
	}
	return nil
}

// listener holds a connection of its own, outside the pool (LISTEN belongs
// to a session), and turns every notification into a broadcast. It
// reconnects with backoff until Close; while it is down, subscriptions poll.
func (s *Store) listener() {
	defer s.workers.Done()
	cfg := s.pool.Config().ConnConfig.Copy()
	const firstRetry = 100 * time.Millisecond
	retry := firstRetry
	for s.closing.Err() == nil {
		listened, err := s.listenOnce(cfg)
		if s.closing.Err() != nil {
			return
		}
		if listened {
			retry = firstRetry
		}
		s.log.Warn("event store listener lost its connection; subscriptions poll until it is back",
			"error", err, "retry_in", retry)
		select {
		case <-time.After(retry):
		case <-s.closing.Done():
			return
		}
		retry = min(2*retry, 10*time.Second)
	}
}

// listenOnce connects, listens and broadcasts until the connection fails or
// the store closes. listened says whether it got as far as listening.
func (s *Store) listenOnce(cfg *pgx.ConnConfig) (listened bool, err error) {
	conn, err := pgx.ConnectConfig(s.closing, cfg)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(s.closing, "LISTEN "+channel); err != nil {
		return false, err
	}
	// Close ends the wait by closing the socket: a cancel request, the
	// pool's way, would find nothing running to cancel on the server and
	// the wait would last until its fallback deadline.
	defer context.AfterFunc(s.closing, func() { conn.PgConn().Conn().Close() })()
	// Notifications sent before LISTEN took effect are lost: read again.
	s.broadcast()
	for {
		if _, err := conn.WaitForNotification(context.Background()); err != nil {
			return true, err
		}
		s.broadcast()
	}
}

// Head implements eventstore.HeadReader: the last committed event. A
// subscription delivers it once every transaction before it has ended (the
// horizon, see the package doc), usually at once. It is not the last event
// below the horizon: then an event appended and acknowledged could still be
// after the head, and a read model would call itself caught up without it.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if s.closing.Err() != nil {
		return eventstore.Position{}, fmt.Errorf("head: %w", eventstore.ErrClosed)
	}
	var (
		tx uint64
		id int64
	)
	err := s.pool.QueryRow(ctx, "SELECT tx, id FROM eventstore.events ORDER BY tx DESC, id DESC LIMIT 1").Scan(&tx, &id)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return eventstore.Position{}, nil
	case err != nil:
		return eventstore.Position{}, fmt.Errorf("head: %w", s.failed(ctx, err))
	}
	return eventstore.Position{Commit: tx, Prepare: uint64(id)}, nil
}
