package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ringback/ringback/libs/eventstore"
)

// maxAppendBytes bounds one Append, as in the embedded store, so that what
// passes on one adapter does not fail on another for its size alone.
const maxAppendBytes = 16 << 20

// maxRetries bounds the append function's "retry" answers for one append.
// One is the most an append should ever need (see the function); more means
// something is wrong.
const maxRetries = 5

// maxBatch and maxBatchBytes bound one group commit, so a flood of appends is
// acknowledged in slices instead of waiting for one enormous transaction.
const (
	maxBatch      = 128
	maxBatchBytes = 4 << 20
)

// encoded is one Append's events in the column form the append function
// takes.
type encoded struct {
	ids   []pgtype.UUID
	types []string
	data  [][]byte
	meta  []string // "" for no metadata
	size  int      // about the bytes on the wire
}

// appendReq is one Append handed to a committer.
type appendReq struct {
	stream   string
	expected eventstore.ExpectedRevision
	fence    *eventstore.Fence // the lease the append is made under, if any
	events   encoded
	done     chan appendResp // buffered: a committer never waits for a caller that gave up
}

type appendResp struct {
	res eventstore.AppendResult
	err error
}

// Append implements eventstore.Store. A committer takes it, together with
// every other Append waiting at that moment, and runs them as one call of
// the append function: one transaction, one round trip, one WAL flush for
// all, each append still deciding on its own stream (a conflict fails that
// append only). It returns once that transaction has committed. If ctx ends
// while the append is in flight the outcome is unknown; appending the same
// events at the same expectation again is then safe.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if s.closing.Err() != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, eventstore.ErrClosed)
	}
	enc, err := prepare(stream, expected, events)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	req := &appendReq{stream: stream, expected: expected, events: enc, done: make(chan appendResp, 1)}
	if f, ok := eventstore.FenceOf(ctx); ok {
		if f.Generation > math.MaxInt64 {
			return eventstore.AppendResult{}, fmt.Errorf("append %s: lease %s generation %d: %w", stream, f.Name, f.Generation, eventstore.ErrFenced)
		}
		req.fence = &f
	}
	select {
	case s.reqs <- req:
	case <-s.closing.Done():
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, eventstore.ErrClosed)
	case <-ctx.Done():
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, ctx.Err())
	}
	select {
	case resp := <-req.done:
		if resp.err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, resp.err)
		}
		return resp.res, nil
	case <-ctx.Done():
		return eventstore.AppendResult{}, fmt.Errorf("append %s: outcome unknown: %w", stream, ctx.Err())
	}
}

// committer runs group commits until Close: it takes the first waiting
// Append, then every one already waiting behind it. A few committers run at
// once (WithCommitters), so that a batch waiting for a stream another process
// holds does not stop every append; while they are all busy, appends queue
// and the next batch is larger, which is what makes throughput grow with the
// writers (measured on 2 CPUs: 64 writers got half the appends per second
// with 16 committers that they got with 4).
func (s *Store) committer() {
	defer s.workers.Done()
	var batch []*appendReq
	for {
		select {
		case req := <-s.reqs:
			batch = append(batch[:0], req)
		case <-s.closing.Done():
			return
		}
		size := batch[0].events.size
	drain:
		for len(batch) < maxBatch && size < maxBatchBytes {
			select {
			case req := <-s.reqs:
				batch = append(batch, req)
				size += req.events.size
			default:
				break drain
			}
		}
		s.commit(batch)
		clear(batch) // do not keep the last batch's events reachable
	}
}

// commit runs a batch and answers every append of it.
func (s *Store) commit(batch []*appendReq) {
	// Whatever the outcome, the transaction has ended: it may have been the
	// one holding subscribers' horizon back.
	defer s.appended()
	// Streams are locked in name order, in every process: two batches then
	// never wait for each other's locks in a cycle (a deadlock PostgreSQL
	// would break only after deadlock_timeout, failing a batch).
	slices.SortStableFunc(batch, func(a, b *appendReq) int { return strings.Compare(a.stream, b.stream) })
	pending := batch
	for range maxRetries {
		outcomes, err := s.call(s.pool, pending)
		var pgErr *pgconn.PgError
		switch {
		case err != nil && errors.As(err, &pgErr) && len(pending) > 1:
			// The server refused the batch and rolled it back: find the
			// append it refused by running them one by one, so that the
			// others do not fail with it.
			s.log.Warn("event store batch refused by the server, committing its appends one by one",
				"appends", len(pending), "error", err)
			for _, req := range pending {
				s.commit([]*appendReq{req})
			}
			return
		case err != nil:
			// A failure after the call was sent (a lost connection) may
			// have come after the commit: the caller should know.
			unknown := !pgconn.SafeToRetry(err)
			if s.closing.Err() != nil {
				err = eventstore.ErrClosed
			}
			if unknown {
				err = fmt.Errorf("outcome unknown: %w", err)
			}
			for _, req := range pending {
				req.done <- appendResp{err: err}
			}
			return
		}
		var retry []*appendReq
		for i, req := range pending {
			o := outcomes[i]
			switch o.outcome {
			case "ok", "replay":
				req.done <- appendResp{res: o.result()}
			case "conflict":
				req.done <- appendResp{err: &eventstore.ConflictError{
					Stream: req.stream, Expected: req.expected, Actual: eventstore.ExpectedRevision(o.lastRev.Int64)}}
			case "fenced":
				req.done <- appendResp{err: fmt.Errorf("lease %s generation %d: %w",
					req.fence.Name, req.fence.Generation, eventstore.ErrFenced)}
			case "retry":
				retry = append(retry, req)
			default:
				req.done <- appendResp{err: fmt.Errorf("append function answered %q", o.outcome)}
			}
		}
		if pending = retry; len(pending) == 0 {
			return
		}
	}
	for _, req := range pending {
		req.done <- appendResp{err: fmt.Errorf("still told to retry after %d attempts", maxRetries)}
	}
}

// result is where an append the function wrote (or had written) landed.
func (o outcome) result() eventstore.AppendResult {
	return eventstore.AppendResult{
		NextExpected: eventstore.ExpectedRevision(o.lastRev.Int64),
		Position:     eventstore.Position{Commit: o.lastTx.Uint64, Prepare: uint64(o.lastID.Int64)},
	}
}

// outcome is one row of the append function.
type outcome struct {
	outcome string
	lastRev pgtype.Int8 // NULL for 'retry' and 'fenced'
	lastTx  pgtype.Uint64
	lastID  pgtype.Int8
}

// rowsQuerier runs a query: the pool (a transaction of its own) or a
// transaction begun by the caller.
type rowsQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// call runs the append function on a batch, in a transaction of its own
// (q the pool) or in q's. Close cancels it: a committer must not keep
// Close waiting on a lock.
func (s *Store) call(q rowsQuerier, batch []*appendReq) ([]outcome, error) {
	var (
		streams    = make([]string, len(batch))
		expected   = make([]int64, len(batch))
		counts     = make([]int32, len(batch))
		fenceNames = make([]pgtype.Text, len(batch))
		fenceGens  = make([]pgtype.Int8, len(batch))
		all        encoded
	)
	for i, req := range batch {
		streams[i], expected[i], counts[i] = req.stream, int64(req.expected), int32(len(req.events.ids))
		if f := req.fence; f != nil {
			fenceNames[i] = pgtype.Text{String: f.Name, Valid: true}
			fenceGens[i] = pgtype.Int8{Int64: int64(f.Generation), Valid: true}
		}
		all.ids = append(all.ids, req.events.ids...)
		all.types = append(all.types, req.events.types...)
		all.data = append(all.data, req.events.data...)
		all.meta = append(all.meta, req.events.meta...)
	}
	rows, err := q.Query(s.closing,
		"SELECT outcome, last_revision, last_tx, last_id FROM eventstore.append($1, $2, $3, $4, $5, $6, $7, $8, $9)",
		streams, expected, counts, fenceNames, fenceGens, all.ids, all.types, all.data, all.meta)
	if err != nil {
		return nil, err
	}
	out := make([]outcome, 0, len(batch))
	for rows.Next() {
		var o outcome
		if err := rows.Scan(&o.outcome, &o.lastRev, &o.lastTx, &o.lastID); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) != len(batch) {
		return nil, fmt.Errorf("append function answered %d rows for %d appends", len(out), len(batch))
	}
	return out, nil
}

// prepare validates an append, with the embedded store's rules and messages,
// and converts its events.
func prepare(stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) (encoded, error) {
	switch {
	case stream == "":
		return encoded{}, errors.New("empty stream name")
	case !validText(stream):
		return encoded{}, errors.New("stream name is not UTF-8 text without NUL")
	case expected < eventstore.NoStream:
		return encoded{}, fmt.Errorf("invalid expected revision %d", expected)
	case len(events) == 0:
		return encoded{}, errors.New("no events")
	}
	b := encoded{
		ids:   make([]pgtype.UUID, len(events)),
		types: make([]string, len(events)),
		data:  make([][]byte, len(events)),
		meta:  make([]string, len(events)),
	}
	seen := make(map[uuid.UUID]struct{}, len(events))
	size := len(stream)
	for i, e := range events {
		// Ids must be UUIDs because EventStoreDB requires them; parsed, so
		// that upper and lower case name the same event.
		id, err := uuid.Parse(e.ID)
		if err != nil {
			return encoded{}, fmt.Errorf("event %d: id %q: %w", i, e.ID, err)
		}
		if _, dup := seen[id]; dup {
			return encoded{}, fmt.Errorf("event %d: id %s repeated in one append", i, id)
		}
		seen[id] = struct{}{}
		switch {
		case e.Type == "":
			return encoded{}, fmt.Errorf("event %d: empty type", i)
		case !validText(e.Type):
			return encoded{}, fmt.Errorf("event %d: type is not UTF-8 text without NUL", i)
		}
		b.ids[i] = pgtype.UUID{Bytes: id, Valid: true}
		b.types[i] = e.Type
		b.data[i] = e.Data
		if len(e.Metadata) > 0 {
			// JSON escapes what PostgreSQL text cannot hold (NUL); invalid
			// UTF-8 becomes U+FFFD, as it does on EventStoreDB.
			m, err := json.Marshal(e.Metadata)
			if err != nil {
				return encoded{}, fmt.Errorf("event %d: metadata: %w", i, err)
			}
			b.meta[i] = string(m)
		}
		size += 16 + len(e.Type) + len(e.Data) + len(b.meta[i])
	}
	if size > maxAppendBytes {
		return encoded{}, fmt.Errorf("append of about %d bytes exceeds %d", size, maxAppendBytes)
	}
	b.size = size
	return b, nil
}

// validText reports whether PostgreSQL can store s as text.
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// ReadStream implements eventstore.Store. It sees committed events only.
func (s *Store) ReadStream(ctx context.Context, stream string, from eventstore.Revision) ([]eventstore.RecordedEvent, error) {
	if s.closing.Err() != nil {
		return nil, fmt.Errorf("read %s: %w", stream, eventstore.ErrClosed)
	}
	if from > math.MaxInt64 {
		return nil, nil // no revision is that high
	}
	rows, err := s.pool.Query(ctx, `
SELECT `+eventColumns+` FROM eventstore.events
 WHERE stream = $1 AND revision >= $2 ORDER BY revision`, stream, int64(from))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, s.failed(ctx, err))
	}
	evs, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, s.failed(ctx, err))
	}
	return evs, nil
}

// eventColumns are what scanEvents reads, in its order.
const eventColumns = "tx, id, stream, revision, event_id, type, data, metadata::text, created_at"

// scanEvents reads rows of eventColumns and closes them.
func scanEvents(rows pgx.Rows) ([]eventstore.RecordedEvent, error) {
	defer rows.Close()
	var out []eventstore.RecordedEvent
	for rows.Next() {
		var (
			tx       uint64
			id, rev  int64
			eventID  pgtype.UUID
			meta     *string
			created  time.Time
			recorded eventstore.RecordedEvent
		)
		if err := rows.Scan(&tx, &id, &recorded.Stream, &rev, &eventID, &recorded.Type, &recorded.Data, &meta, &created); err != nil {
			return nil, err
		}
		recorded.Position = eventstore.Position{Commit: tx, Prepare: uint64(id)}
		recorded.Revision = eventstore.Revision(rev)
		recorded.ID = uuid.UUID(eventID.Bytes).String()
		recorded.Time = created.UTC()
		if meta != nil {
			if err := json.Unmarshal([]byte(*meta), &recorded.Metadata); err != nil {
				return nil, fmt.Errorf("metadata of %s@%d: %w", recorded.Stream, rev, err)
			}
		}
		out = append(out, recorded)
	}
	return out, rows.Err()
}
