// Package esdb is the eventstore adapter for KurrentDB / EventStoreDB, the
// store of the distributed deployment, on EventStore-Client-Go.
//
// Event data is stored as binary (application/octet-stream: the protobuf
// encoding) and the metadata map as the JSON object of the user metadata.
// Appends always carry an expected revision, never "any": only then does the
// server deduplicate by event id (DESIGN.md, section 3).
//
// Besides the port it implements eventstore.Checkpoints (a stream per
// name, checkpoints.go) and eventstore.HeadReader. Calls into the client
// library go through do (client.go), which works around the library's
// blocking on a lost server.
//
// Its tests run against kurrenttest, a harness that speaks the server's
// gRPC API, and against a real server when KURRENTDB_URL is set.
//
// It must not import another adapter or a service; only its tests import
// kurrenttest.
package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
)

// Store is the EventStoreDB adapter. Use New; all methods are safe for
// concurrent use.
type Store struct {
	conf      *esdb.Configuration
	closed    context.Context // done once Close is called; ends subscriptions and calls
	close     context.CancelFunc
	closeOnce sync.Once

	mu      sync.Mutex
	conn    *conn // the client calls go to (client.go)
	closing bool
}

// Option configures New.
type Option func(*esdb.Configuration)

// WithLogger routes the client library's log lines to l (default: discard,
// the library otherwise writes to the standard logger; failures reach the
// caller as errors anyway).
func WithLogger(l *slog.Logger) Option {
	return func(c *esdb.Configuration) {
		c.Logger = func(level esdb.LogLevel, format string, args ...any) {
			lv := slog.LevelDebug
			switch level {
			case esdb.LogInfo:
				lv = slog.LevelInfo
			case esdb.LogWarn:
				lv = slog.LevelWarn
			case esdb.LogError:
				lv = slog.LevelError
			}
			l.Log(context.Background(), lv, fmt.Sprintf(format, args...), "component", "esdb-client")
		}
	}
}

// New connects to the server of connectionString (esdb://host:2113?tls=false)
// and checks within ctx that it answers, so a wrong address fails at start
// rather than at the first command.
func New(ctx context.Context, connectionString string, opts ...Option) (*Store, error) {
	conf, err := esdb.ParseConnectionString(connectionString)
	if err != nil {
		return nil, fmt.Errorf("esdb connection string: %w", err)
	}
	conf.Logger = esdb.NoopLogging()
	for _, o := range opts {
		o(conf)
	}
	client, err := esdb.NewClient(conf)
	if err != nil {
		return nil, fmt.Errorf("esdb client: %w", err)
	}
	closed, cancel := context.WithCancel(context.Background())
	s := &Store{conf: conf, conn: &conn{client: client}, closed: closed, close: cancel}
	// Reading a stream nobody writes exercises connection, TLS and
	// credentials; a missing stream is the expected answer.
	if _, err := s.ReadStream(ctx, "ringback-connection-check", 0); err != nil {
		s.Close()
		return nil, fmt.Errorf("esdb connect: %w", err)
	}
	return s, nil
}

// Close implements eventstore.Store: running subscriptions end with
// ErrClosed, calls in flight are cancelled. Closing again returns nil.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() { err = s.shutdown() })
	return err
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if s.closed.Err() != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, eventstore.ErrClosed)
	}
	data, err := toEventData(events)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	if err := s.checkFence(ctx); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	want, err := expectedRevision(expected)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	wr, err := do(ctx, s, func(ctx context.Context, c *esdb.Client) (*esdb.WriteResult, error) {
		return c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: want}, data...)
	})
	if err != nil {
		// esdb.FromError recognises the client's error only unwrapped:
		// translate before adding context (DESIGN.md, section 3).
		if e, ok := esdb.FromError(err); !ok && e.Code() == esdb.ErrorCodeWrongExpectedVersion {
			err = &eventstore.ConflictError{Stream: stream, Expected: expected, Actual: s.actual(ctx, stream, e)}
		} else {
			err = s.translate(ctx, err)
		}
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	// The events occupy expected+1 ... whether written now or found there
	// as an idempotent replay; the server's own figure is not used because
	// the client reports 1 for some no-stream answers.
	last := eventstore.Revision(int64(expected) + int64(len(events)))
	res := eventstore.AppendResult{
		NextExpected: eventstore.Exactly(last),
		Position:     eventstore.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition},
	}
	// The port promises the last event's position, which a later
	// SubscribeAll resumes after. For a write of several events the server's
	// figure is the write's, not necessarily its last event's, and for an
	// idempotent replay the client leaves it zero: read the last event back
	// then, one extra round trip in those cases only.
	if len(events) > 1 || res.Position == (eventstore.Position{}) {
		evs, err := s.read(ctx, stream, last, 1)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("append %s: position of revision %d: %w", stream, last, err)
		}
		if len(evs) != 1 {
			return eventstore.AppendResult{}, fmt.Errorf("append %s: revision %d missing after append", stream, last)
		}
		res.Position = evs[0].Position
	}
	return res, nil
}

func toEventData(events []eventstore.EventData) ([]esdb.EventData, error) {
	if len(events) == 0 {
		return nil, errors.New("no events")
	}
	out := make([]esdb.EventData, len(events))
	for i, e := range events {
		id, err := uuid.Parse(e.ID)
		if err != nil {
			return nil, fmt.Errorf("event %d: id %q: %w", i, e.ID, err)
		}
		if e.Type == "" {
			return nil, fmt.Errorf("event %d: empty type", i)
		}
		var meta []byte
		if len(e.Metadata) > 0 {
			if meta, err = json.Marshal(e.Metadata); err != nil {
				return nil, fmt.Errorf("event %d: metadata: %w", i, err)
			}
		}
		out[i] = esdb.EventData{
			EventID:     id,
			EventType:   e.Type,
			ContentType: esdb.ContentTypeBinary,
			Data:        e.Data,
			Metadata:    meta,
		}
	}
	return out, nil
}

// expectedRevision maps the port's expectation. There is no esdb.Any on
// purpose: the port has no "any" and the server would not deduplicate.
func expectedRevision(e eventstore.ExpectedRevision) (esdb.ExpectedRevision, error) {
	switch {
	case e == eventstore.NoStream:
		return esdb.NoStream{}, nil
	case e >= 0:
		return esdb.Revision(uint64(e)), nil
	}
	return nil, fmt.Errorf("invalid expected revision %d", e)
}

// actual is the stream's revision at a conflict. The client puts it only in
// the message ("expecting '3' but got '5'"); when that format changes, read
// the stream's last event instead.
func (s *Store) actual(ctx context.Context, stream string, e *esdb.Error) eventstore.ExpectedRevision {
	msg := e.Error()
	if i := strings.LastIndex(msg, "but got '"); i >= 0 {
		v := strings.TrimSuffix(msg[i+len("but got '"):], "'")
		if v == "no_stream" {
			return eventstore.NoStream
		}
		if n, err := strconv.ParseUint(v, 10, 63); err == nil {
			return eventstore.Exactly(n)
		}
	}
	evs, err := s.readRaw(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil || len(evs) == 0 {
		return eventstore.NoStream
	}
	return eventstore.Exactly(evs[0].EventNumber)
}

// translate turns the client's errors into the port's where one applies.
// ErrClosed means the owner closed the store, nothing else: a client that
// gave up reconnecting says "connection closed" too, and callers that took
// that for ErrClosed would stop quietly instead of failing.
func (s *Store) translate(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if s.closed.Err() != nil {
		return eventstore.ErrClosed
	}
	if e, _ := esdb.FromError(err); e.Code() == esdb.ErrorCodeConnectionClosed {
		return fmt.Errorf("client gave up reconnecting (the next call uses a new one): %w", err)
	}
	return err
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from eventstore.Revision) ([]eventstore.RecordedEvent, error) {
	if s.closed.Err() != nil {
		return nil, fmt.Errorf("read %s: %w", stream, eventstore.ErrClosed)
	}
	evs, err := s.read(ctx, stream, from, math.MaxInt64)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	return evs, nil
}

// read returns up to count events of stream from revision from; a missing
// stream is empty. count stays within int64: the server takes it as a signed
// number.
func (s *Store) read(ctx context.Context, stream string, from eventstore.Revision, count uint64) ([]eventstore.RecordedEvent, error) {
	evs, err := s.readRaw(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Forwards, From: esdb.Revision(from)}, count)
	if err != nil {
		return nil, err
	}
	out := make([]eventstore.RecordedEvent, 0, len(evs))
	for _, e := range evs {
		r, err := recorded(e)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// readRaw reads up to count events of stream as the client returns them; a
// missing stream is empty. The whole read runs inside do: the client's Recv
// reports an unavailable server through its request channel too.
func (s *Store) readRaw(ctx context.Context, stream string, opts esdb.ReadStreamOptions, count uint64) ([]*esdb.RecordedEvent, error) {
	evs, err := do(ctx, s, func(ctx context.Context, c *esdb.Client) ([]*esdb.RecordedEvent, error) {
		rs, err := c.ReadStream(ctx, stream, opts, count)
		if err != nil {
			return nil, err
		}
		defer rs.Close()
		var out []*esdb.RecordedEvent
		for {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			if err != nil {
				if e, _ := esdb.FromError(err); e.Code() == esdb.ErrorCodeResourceNotFound {
					return nil, nil
				}
				return nil, err
			}
			if e := ev.OriginalEvent(); e != nil {
				out = append(out, e)
			}
		}
	})
	if err != nil {
		return nil, s.translate(ctx, err)
	}
	return evs, nil
}

// recorded converts a stored event.
func recorded(e *esdb.RecordedEvent) (eventstore.RecordedEvent, error) {
	r := eventstore.RecordedEvent{
		Stream:   e.StreamID,
		Revision: e.EventNumber,
		Position: eventstore.Position{Commit: e.Position.Commit, Prepare: e.Position.Prepare},
		ID:       e.EventID.String(),
		Type:     e.EventType,
		Data:     e.Data,
		Time:     e.CreatedDate,
	}
	if len(e.UserMetadata) > 0 {
		if err := json.Unmarshal(e.UserMetadata, &r.Metadata); err != nil {
			return eventstore.RecordedEvent{}, fmt.Errorf("metadata of %s@%d: %w", e.StreamID, e.EventNumber, err)
		}
	}
	return r, nil
}

var _ eventstore.Store = (*Store)(nil)
