package personal

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/proto/catalog"
)

// Store seals personal fields on Append and opens them on ReadStream and
// SubscribeAll, so every service above it sees plaintext and the store below
// holds ciphertext. The relay must read the inner store, not this one: what
// it publishes stays sealed on the bus, and consumers open what they read
// there (Sealer.OpenMessage).
//
// It offers the inner store's checkpoints, head and leases; a call the
// inner store does not offer fails saying so.
type Store struct {
	inner  eventstore.Store
	sealer *Sealer
}

var (
	_ eventstore.Store       = (*Store)(nil)
	_ eventstore.Checkpoints = (*Store)(nil)
	_ eventstore.HeadReader  = (*Store)(nil)
	_ eventstore.Leases      = (*Store)(nil)
)

// NewStore returns inner sealed by s.
func NewStore(inner eventstore.Store, s *Sealer) *Store { return &Store{inner: inner, sealer: s} }

// Inner is the store without sealing: what the relay reads.
func (s *Store) Inner() eventstore.Store { return s.inner }

// sealable are the event types that can hold personal data, read once
// from the schemas linked into the binary (catalog), so that the check made
// for every event stored or read is a plain map read.
var sealable = sync.OnceValue(func() map[string]bool {
	out := map[string]bool{}
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		if planFor(mt.Descriptor()) != nil {
			out[string(mt.Descriptor().FullName())] = true
		}
		return true
	})
	return out
})

func isSealable(typeName string) bool { return sealable()[typeName] }

// SealData returns data with its personal fields sealed; data of a type
// without personal fields is returned as it is.
func (s *Sealer) SealData(ctx context.Context, typeName string, data []byte, correlation string) ([]byte, error) {
	return s.sealEvent(ctx, "", typeName, data, correlation)
}

// sealEvent is SealData for the event with id, whose plaintext is then
// remembered as OpenEvent remembers what it opened: the readers of this
// process (every read model, every consumer group) take the event as it
// was given instead of decoding and decrypting it again, 5 % of the thin
// path's CPU (issue 13). An append that then fails leaves an entry no
// stored event matches (OpenEvent compares the sealed bytes).
func (s *Sealer) sealEvent(ctx context.Context, id, typeName string, data []byte, correlation string) ([]byte, error) {
	if !isSealable(typeName) {
		return data, nil
	}
	m, err := catalog.Decode(typeName, data)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	changed, refs, err := s.seal(ctx, m, correlation)
	if err != nil {
		return nil, err
	}
	out := data // nothing personal in this one: stored as it came
	if changed {
		if out, err = proto.Marshal(m); err != nil {
			return nil, fmt.Errorf("seal %s: %w", typeName, err)
		}
	}
	if id != "" {
		s.opened.put(id, openEntry{data: data, refs: refs, sealed: out})
	}
	return out, nil
}

// OpenData returns data with its personal fields opened (or erased). Data
// this binary cannot decode is returned as it is, for the caller's decoder
// to judge.
func (s *Sealer) OpenData(ctx context.Context, typeName string, data []byte) ([]byte, error) {
	return s.OpenEvent(ctx, "", typeName, data)
}

// OpenEvent is OpenData for the event with id, which is remembered: an
// event is read many times (every command folds its stream, every
// consumer group reads it), and events never change, so its id names its
// plaintext until a key it needs is gone. An empty id is not remembered.
func (s *Sealer) OpenEvent(ctx context.Context, id, typeName string, data []byte) ([]byte, error) {
	if !isSealable(typeName) {
		return data, nil
	}
	if id != "" {
		if e, ok := s.opened.get(id); ok && bytes.Equal(e.sealed, data) && s.valid(e) {
			return e.data, nil
		}
	}
	out, refs, err := s.openData(ctx, typeName, data)
	if err != nil {
		return nil, err
	}
	if id != "" {
		s.opened.put(id, openEntry{data: out, refs: refs, sealed: data})
	}
	return out, nil
}

// sealedOf is the entry of event id as this Sealer opened (or sealed) it
// lately, when data is its plaintext and every key it was opened with is
// still held, and opening it opened something: its sealed form is the
// same ciphertext, under the same keys, so erasing the contact erases
// the copy as it erases the event.
func (s *Sealer) sealedOf(id string, data []byte) (openEntry, bool) {
	if id == "" {
		return openEntry{}, false
	}
	e, ok := s.opened.get(id)
	// Opening changed nothing: the event was stored before sealing
	// existed, or holds nothing personal; the copy is sealed the long way.
	if !ok || e.sealed == nil || bytes.Equal(e.sealed, e.data) || !bytes.Equal(e.data, data) || !s.valid(e) {
		return openEntry{}, false
	}
	return e, true
}

// openData is OpenData without the cache: decode, open, encode.
func (s *Sealer) openData(ctx context.Context, typeName string, data []byte) ([]byte, []keyRef, error) {
	m, err := catalog.Decode(typeName, data)
	if err != nil {
		return data, nil, nil //nolint:nilerr // not a catalogue event: nothing of it is sealed
	}
	refs, changed, err := s.openRefs(ctx, m)
	if err != nil {
		return nil, nil, err
	}
	if !changed {
		return data, refs, nil
	}
	out, err := proto.Marshal(m)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", typeName, err)
	}
	return out, refs, nil
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	sealed, err := s.seal(ctx, stream, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return s.inner.Append(ctx, stream, expected, sealed...)
}

// seal returns events with their personal fields sealed.
func (s *Store) seal(ctx context.Context, stream string, events []eventstore.EventData) ([]eventstore.EventData, error) {
	sealed := make([]eventstore.EventData, len(events))
	for i, e := range events {
		d, err := s.sealer.sealEvent(ctx, e.ID, e.Type, e.Data, e.Metadata[eventstore.MetaCorrelation])
		if err != nil {
			return nil, fmt.Errorf("append %s: %w", stream, err)
		}
		e.Data = d
		sealed[i] = e
	}
	return sealed, nil
}

// AppendParts implements eventstore.PartsAppender: each part sealed as
// Append seals, then appended as the inner store appends parts (at once
// where it can).
func (s *Store) AppendParts(ctx context.Context, parts ...eventstore.Part) ([]eventstore.AppendResult, error) {
	sealed := make([]eventstore.Part, len(parts))
	for k, p := range parts {
		events, err := s.seal(ctx, p.Stream, p.Events)
		if err != nil {
			return nil, err
		}
		sealed[k] = eventstore.Part{Stream: p.Stream, Expected: p.Expected, Events: events}
	}
	return eventstore.AppendParts(ctx, s.inner, sealed...)
}

func (s *Store) open(ctx context.Context, r eventstore.RecordedEvent) (eventstore.RecordedEvent, error) {
	d, err := s.sealer.OpenEvent(ctx, r.ID, r.Type, r.Data)
	if err != nil {
		return r, fmt.Errorf("open %s@%d: %w", r.Stream, r.Revision, err)
	}
	r.Data = d
	return r, nil
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from eventstore.Revision) ([]eventstore.RecordedEvent, error) {
	recs, err := s.inner.ReadStream(ctx, stream, from)
	if err != nil {
		return nil, err
	}
	// Opened in place: the inner store's slice is the caller's, and open
	// replaces an event's data without writing into it.
	for i, r := range recs {
		if recs[i], err = s.open(ctx, r); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// SubscribeAll implements eventstore.Store.
func (s *Store) SubscribeAll(ctx context.Context, from eventstore.Position, fn func(context.Context, eventstore.RecordedEvent) error) error {
	return s.SubscribeStreams(ctx, from, nil, fn)
}

// SubscribeStreams implements eventstore.StreamSubscriber: the events of
// streams want refuses are delivered sealed, as stored; a nil want opens
// all.
func (s *Store) SubscribeStreams(ctx context.Context, from eventstore.Position, want func(string) bool,
	fn func(context.Context, eventstore.RecordedEvent) error) error {
	return s.inner.SubscribeAll(ctx, from, func(ctx context.Context, r eventstore.RecordedEvent) error {
		if want == nil || want(r.Stream) {
			var err error
			if r, err = s.open(ctx, r); err != nil {
				return err
			}
		}
		return fn(ctx, r)
	})
}

// Close implements eventstore.Store.
func (s *Store) Close() error { return s.inner.Close() }

// LoadCheckpoint implements eventstore.Checkpoints.
func (s *Store) LoadCheckpoint(ctx context.Context, name string) (eventstore.Position, error) {
	c, ok := s.inner.(eventstore.Checkpoints)
	if !ok {
		return eventstore.Position{}, fmt.Errorf("the %T store keeps no checkpoints", s.inner)
	}
	return c.LoadCheckpoint(ctx, name)
}

// SaveCheckpoint implements eventstore.Checkpoints.
func (s *Store) SaveCheckpoint(ctx context.Context, name string, p eventstore.Position) error {
	c, ok := s.inner.(eventstore.Checkpoints)
	if !ok {
		return fmt.Errorf("the %T store keeps no checkpoints", s.inner)
	}
	return c.SaveCheckpoint(ctx, name, p)
}

// Head implements eventstore.HeadReader.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	h, ok := s.inner.(eventstore.HeadReader)
	if !ok {
		return eventstore.Position{}, fmt.Errorf("the %T store tells no head", s.inner)
	}
	return h.Head(ctx)
}

func (s *Store) leases() (eventstore.Leases, error) {
	l, ok := s.inner.(eventstore.Leases)
	if !ok {
		return nil, fmt.Errorf("the %T store grants no leases", s.inner)
	}
	return l, nil
}

// AcquireLease implements eventstore.Leases.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (eventstore.Lease, error) {
	l, err := s.leases()
	if err != nil {
		return eventstore.Lease{}, err
	}
	return l.AcquireLease(ctx, name, holder, ttl)
}

// RenewLease implements eventstore.Leases.
func (s *Store) RenewLease(ctx context.Context, le eventstore.Lease, ttl time.Duration) (eventstore.Lease, error) {
	l, err := s.leases()
	if err != nil {
		return eventstore.Lease{}, err
	}
	return l.RenewLease(ctx, le, ttl)
}

// ReleaseLease implements eventstore.Leases.
func (s *Store) ReleaseLease(ctx context.Context, le eventstore.Lease) error {
	l, err := s.leases()
	if err != nil {
		return err
	}
	return l.ReleaseLease(ctx, le)
}

// ReadLease implements eventstore.Leases.
func (s *Store) ReadLease(ctx context.Context, name string) (eventstore.Lease, bool, time.Time, error) {
	l, err := s.leases()
	if err != nil {
		return eventstore.Lease{}, false, time.Time{}, err
	}
	return l.ReadLease(ctx, name)
}
