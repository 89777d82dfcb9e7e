package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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

// maxRetries bounds the append function's "retry" answers. One is the most a
// call should ever need (see the function); more means something is wrong.
const maxRetries = 5

// uniqueViolation is the SQLSTATE of a unique constraint violation.
const uniqueViolation = "23505"

// batch is one Append in the column form the append function takes.
type batch struct {
	ids   []pgtype.UUID
	types []string
	data  [][]byte
	meta  []string // "" for no metadata
}

// Append implements eventstore.Store: one call of the append function, in a
// transaction of its own. It returns once the transaction has committed. If
// ctx ends while the call is in flight the outcome is unknown; appending the
// same events at the same expectation again is then safe.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if s.closing.Err() != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, eventstore.ErrClosed)
	}
	b, err := prepare(stream, expected, events)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	// Whatever the outcome, this append's transaction has ended: it may have
	// been the one holding subscribers' horizon back.
	defer s.appended()
	for range maxRetries {
		var (
			outcome string
			lastRev int64
			lastTx  pgtype.Uint64
			lastID  pgtype.Int8
		)
		err := s.pool.QueryRow(ctx,
			"SELECT outcome, last_revision, last_tx, last_id FROM eventstore.append($1, $2, $3, $4, $5, $6)",
			stream, int64(expected), b.ids, b.types, b.data, b.meta,
		).Scan(&outcome, &lastRev, &lastTx, &lastID)
		var pgErr *pgconn.PgError
		switch {
		case errors.As(err, &pgErr) && pgErr.Code == uniqueViolation && pgErr.ConstraintName == "events_stream_event_id_key":
			// The fast path found the expectation true and one of the ids
			// elsewhere in the stream.
			return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream,
				&eventstore.ConflictError{Stream: stream, Expected: expected, Actual: expected})
		case err != nil:
			err = s.failed(ctx, err)
			if ctx.Err() != nil && !errors.Is(err, eventstore.ErrClosed) {
				return eventstore.AppendResult{}, fmt.Errorf("append %s: outcome unknown: %w", stream, err)
			}
			return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
		}
		switch outcome {
		case "ok", "replay":
			return eventstore.AppendResult{
				NextExpected: eventstore.ExpectedRevision(lastRev),
				Position:     eventstore.Position{Commit: lastTx.Uint64, Prepare: uint64(lastID.Int64)},
			}, nil
		case "conflict":
			return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream,
				&eventstore.ConflictError{Stream: stream, Expected: expected, Actual: eventstore.ExpectedRevision(lastRev)})
		case "retry":
			continue
		default:
			return eventstore.AppendResult{}, fmt.Errorf("append %s: append function answered %q", stream, outcome)
		}
	}
	return eventstore.AppendResult{}, fmt.Errorf("append %s: still told to retry after %d attempts", stream, maxRetries)
}

// prepare validates an append, with the embedded store's rules and messages,
// and converts its events.
func prepare(stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) (batch, error) {
	switch {
	case stream == "":
		return batch{}, errors.New("empty stream name")
	case !validText(stream):
		return batch{}, errors.New("stream name is not UTF-8 text without NUL")
	case expected < eventstore.NoStream:
		return batch{}, fmt.Errorf("invalid expected revision %d", expected)
	case len(events) == 0:
		return batch{}, errors.New("no events")
	}
	b := batch{
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
			return batch{}, fmt.Errorf("event %d: id %q: %w", i, e.ID, err)
		}
		if _, dup := seen[id]; dup {
			return batch{}, fmt.Errorf("event %d: id %s repeated in one append", i, id)
		}
		seen[id] = struct{}{}
		switch {
		case e.Type == "":
			return batch{}, fmt.Errorf("event %d: empty type", i)
		case !validText(e.Type):
			return batch{}, fmt.Errorf("event %d: type is not UTF-8 text without NUL", i)
		}
		b.ids[i] = pgtype.UUID{Bytes: id, Valid: true}
		b.types[i] = e.Type
		b.data[i] = e.Data
		if len(e.Metadata) > 0 {
			// JSON escapes what PostgreSQL text cannot hold (NUL); invalid
			// UTF-8 becomes U+FFFD, as it does on EventStoreDB.
			m, err := json.Marshal(e.Metadata)
			if err != nil {
				return batch{}, fmt.Errorf("event %d: metadata: %w", i, err)
			}
			b.meta[i] = string(m)
		}
		size += 16 + len(e.Type) + len(e.Data) + len(b.meta[i])
	}
	if size > maxAppendBytes {
		return batch{}, fmt.Errorf("append of about %d bytes exceeds %d", size, maxAppendBytes)
	}
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
