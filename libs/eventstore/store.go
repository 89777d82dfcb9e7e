// Package eventstore is the port every service writes through: streams of
// events appended with an expected revision (optimistic concurrency) and read
// back in order, plus a catch-up subscription over every stream of the store.
//
// It owns the port's types, its errors, leases (lease.go) and the decide
// helper (decide.go). Adapters live in embedded/ (a durable file, the
// single-node default), postgres/ (PostgreSQL, a shared store) and esdb/
// (KurrentDB / EventStoreDB, a shared store); eventstoretest/ holds the
// conformance suite all of them must pass. This package must not import an
// adapter.
package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Revision is the 0-based index of an event in its stream.
type Revision = uint64

// ExpectedRevision is what a writer believes the stream's last revision is.
// There is deliberately no "any": an append without an expectation cannot be
// deduplicated by EventStoreDB and hides lost updates (DESIGN.md, section 3).
type ExpectedRevision int64

// NoStream expects the stream not to exist yet.
const NoStream ExpectedRevision = -1

// Exactly expects the stream's last event to be at revision r.
func Exactly(r Revision) ExpectedRevision { return ExpectedRevision(r) }

// Position is a place in the store's global order ($all). The zero Position
// is the start. Commit and Prepare follow EventStoreDB; the embedded store
// uses its sequence number for both.
type Position struct {
	Commit  uint64
	Prepare uint64
}

// Less orders positions.
func (p Position) Less(q Position) bool {
	if p.Commit != q.Commit {
		return p.Commit < q.Commit
	}
	return p.Prepare < q.Prepare
}

// EventData is an event to append. ID is the idempotency key: appending the
// same IDs again at the same expected revision is a successful no-op.
type EventData struct {
	ID       string // UUID
	Type     string // fully-qualified protobuf message name
	Data     []byte // protobuf binary encoding
	Metadata map[string]string
}

// RecordedEvent is an event as stored.
type RecordedEvent struct {
	Stream   string
	Revision Revision
	Position Position
	ID       string
	Type     string
	Data     []byte
	Metadata map[string]string
	Time     time.Time // when the store accepted it
}

// AppendResult says where the last appended event landed.
type AppendResult struct {
	NextExpected ExpectedRevision // expectation for the following append
	Position     Position         // position of the last event appended
}

// StreamSubscriber is a Store whose SubscribeAll does work per event for
// the subscriber (opening personal data, libs/personal) that it can skip
// for the streams a subscriber ignores: SubscribeStreams delivers the
// events of streams want refuses as stored, for their position only, and
// the others as SubscribeAll does (issue 12: every read model saw every
// event of the platform opened).
type StreamSubscriber interface {
	SubscribeStreams(ctx context.Context, from Position, want func(stream string) bool,
		fn func(context.Context, RecordedEvent) error) error
}

// Store is the event-store port.
//
// All methods are safe for concurrent use. Append returns only once the
// events are durable. Errors: ErrConflict (wrapped, often in a *ConflictError)
// when the expectation does not hold; ErrClosed after Close.
type Store interface {
	// Append writes events atomically at the end of stream if its last
	// revision is expected. Events whose IDs were already appended at that
	// same expected revision make the call a no-op returning the same result.
	Append(ctx context.Context, stream string, expected ExpectedRevision, events ...EventData) (AppendResult, error)

	// ReadStream returns the events of stream from revision from onwards, in
	// order. A stream that does not exist reads as empty, not as an error.
	// The events' Data and Metadata may be shared with other readers (as
	// SubscribeAll's are): callers must not modify them in place.
	ReadStream(ctx context.Context, stream string, from Revision) ([]RecordedEvent, error)

	// SubscribeAll calls fn for every event after position from (exclusive;
	// the zero Position means from the very first event), in global order,
	// first catching up and then live. It blocks until ctx is done (returning
	// ctx.Err()), fn returns an error (returned wrapped) or the store closes.
	// fn is called from one goroutine at a time. An event's Data and
	// Metadata may be shared with other readers: fn must not modify them.
	SubscribeAll(ctx context.Context, from Position, fn func(context.Context, RecordedEvent) error) error

	// Close releases the store. Subscriptions end with ErrClosed.
	Close() error
}

// Checkpoints is what a store offers to keep named positions (a relay's, a
// read model's) beside its events, so that a new pod resumes where the last
// one stopped instead of replaying the store. Every adapter implements it.
//
// SaveCheckpoint only ever moves a checkpoint forward: a save of a position
// before the stored one is a no-op, so replicas saving the same name after
// each other never take it back. LoadCheckpoint answers the zero Position
// for a name never saved. Both are safe for concurrent use.
type Checkpoints interface {
	LoadCheckpoint(ctx context.Context, name string) (Position, error)
	SaveCheckpoint(ctx context.Context, name string, p Position) error
}

// HeadReader tells the position of the last event a subscription would
// deliver now (the zero Position for an empty store), so a read model knows
// when it has caught up. Every adapter implements it.
type HeadReader interface {
	Head(ctx context.Context) (Position, error)
}

// ErrConflict is the error every adapter returns when the expected revision
// does not match the stream.
var ErrConflict = errors.New("wrong expected revision")

// ErrClosed is returned by a store after Close.
var ErrClosed = errors.New("event store closed")

// ConflictError carries the revisions of a conflict; it matches ErrConflict.
type ConflictError struct {
	Stream   string
	Expected ExpectedRevision
	Actual   ExpectedRevision // NoStream when the stream does not exist
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("stream %s: expected revision %d, actual %d", e.Stream, e.Expected, e.Actual)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }
