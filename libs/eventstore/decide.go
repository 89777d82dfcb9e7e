package eventstore

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/proto/catalog"
)

// Metadata keys every event carries. The trace keys are W3C trace context so
// the relay can hand them to the bus unchanged.
const (
	MetaCausation   = "causation-id"   // id of the event or request that caused this one
	MetaCorrelation = "correlation-id" // the callback id: one callback, one correlation
	MetaTraceParent = "traceparent"
	MetaTraceState  = "tracestate"
)

// idNamespace roots the deterministic event ids (UUID v5).
var idNamespace = uuid.MustParse("8f0c5b0e-7b7c-4a3e-9a55-3f6c1d2e4b10")

// EventID is the id of the n-th event that cause wrote to stream. Being a
// function of its inputs, a redelivered cause yields the same ids, which is
// how every writer is idempotent across restarts without a separate table.
func EventID(cause, stream string, n int) string {
	// uuid.NewSHA1(idNamespace, "cause\x00stream\x00n"), hashed from a
	// buffer on the stack: every event appended makes one, and the
	// formatting, the hash's state and its sum were 3 % of all the thin
	// path allocated (TestEventIDIsUUIDv5 holds it to uuid.NewSHA1).
	var buf [192]byte
	b := append(buf[:0], idNamespace[:]...)
	b = append(append(append(append(b, cause...), 0), stream...), 0)
	b = strconv.AppendInt(b, int64(n), 10)
	sum := sha1.Sum(b)
	var id uuid.UUID
	copy(id[:], sum[:])
	id[6] = (id[6] & 0x0f) | 0x50 // version 5
	id[8] = (id[8] & 0x3f) | 0x80 // RFC 4122 variant
	return id.String()
}

// Cause is what a command answers to: a bus event, or an HTTP request.
type Cause struct {
	ID          string // idempotency root; a fresh UUID for a request without a key
	Correlation string // callback id, when known
}

// Aggregate is the pure part of a stream's owner: its initial state and how
// one event changes it. Evolve must ignore events it does not know.
type Aggregate[S any] struct {
	Initial S
	Evolve  func(S, proto.Message) S
}

// Loaded is a stream folded into state.
type Loaded[S any] struct {
	State    S
	Expected ExpectedRevision
	seen     func(eventID string) bool
}

// Load reads stream and folds it.
func Load[S any](ctx context.Context, store Store, stream string, agg Aggregate[S]) (Loaded[S], error) {
	recs, err := store.ReadStream(ctx, stream, 0)
	if err != nil {
		return Loaded[S]{}, fmt.Errorf("read %s: %w", stream, err)
	}
	ids := make(map[string]bool, len(recs))
	l := Loaded[S]{State: agg.Initial, Expected: NoStream, seen: func(id string) bool { return ids[id] }}
	for _, r := range recs {
		l.Expected = Exactly(r.Revision)
		ids[r.ID] = true
		m, err := catalog.Decode(r.Type, r.Data)
		if err != nil {
			// A newer writer's event type: skip it rather than refuse to load
			// (rolling upgrades); its effects reach us in types we know.
			continue
		}
		l.State = agg.Evolve(l.State, m)
	}
	return l, nil
}

// Outcome is what Execute did.
type Outcome[S any] struct {
	State    S               // state after the appended events
	Events   []proto.Message // appended now; empty when nothing to do or a replay
	Replay   bool            // the cause had already been applied to this stream
	Position Position
	Expected ExpectedRevision
}

// maxAttempts bounds optimistic-concurrency retries; contention on one
// stream is a handful of writers at most, but a burst must not fail.
const maxAttempts = 40

// Execute is the only write path: read the stream, fold it, decide, append
// with the read revision, retry on conflict. A cause already applied to the
// stream (its first event id is there) is a no-op, so redelivery is safe.
func Execute[S any](ctx context.Context, store Store, stream string, agg Aggregate[S], cause Cause,
	decide func(S) ([]proto.Message, error)) (Outcome[S], error) {
	return ExecuteCached(ctx, store, nil, stream, agg, cause, decide)
}

// ExecuteCached is Execute reading the stream through cache, so a long
// stream (an agent's, across days) is read once and then only its new
// events. A nil cache reads the whole stream every time.
func ExecuteCached[S any](ctx context.Context, store Store, cache *Cache[S], stream string, agg Aggregate[S], cause Cause,
	decide func(S) ([]proto.Message, error)) (Outcome[S], error) {
	return execute(ctx, store, cache, nil, stream, agg, cause, decide)
}

// ExecuteFrom is Execute deciding first from l, the stream as the caller
// read it a moment ago (to authorise the command, say), so a command reads
// its stream once. l must come from Load of the same stream. Its revision
// guards the append: when the stream moved since, the append conflicts and
// the stream is read again, as Execute does.
func ExecuteFrom[S any](ctx context.Context, store Store, l Loaded[S], stream string, agg Aggregate[S], cause Cause,
	decide func(S) ([]proto.Message, error)) (Outcome[S], error) {
	return execute(ctx, store, nil, &l, stream, agg, cause, decide)
}

// ExecuteAlso is Execute appending, with the decided events, the part
// also decides for another stream (a claim on a number beside the request
// that takes it), in one AppendParts: on a PartsAppender neither is
// written without the other, and they share one sync. also is asked first
// at every attempt, so a conflict on either stream decides both again; its
// error ends the command, and a nil part appends the events alone. When
// the decision appends nothing (a replay, an error, no events), nothing of
// the part is appended.
func ExecuteAlso[S any](ctx context.Context, store Store, stream string, agg Aggregate[S], cause Cause,
	decide func(S) ([]proto.Message, error), also func() (*Part, error)) (Outcome[S], error) {
	return executeWith(ctx, store, nil, nil, stream, agg, cause, decide, also)
}

func execute[S any](ctx context.Context, store Store, cache *Cache[S], first *Loaded[S], stream string, agg Aggregate[S], cause Cause,
	decide func(S) ([]proto.Message, error)) (Outcome[S], error) {
	return executeWith(ctx, store, cache, first, stream, agg, cause, decide, nil)
}

func executeWith[S any](ctx context.Context, store Store, cache *Cache[S], first *Loaded[S], stream string, agg Aggregate[S], cause Cause,
	decide func(S) ([]proto.Message, error), also func() (*Part, error)) (Outcome[S], error) {
	if cache != nil {
		done, err := cache.take(ctx, stream)
		if err != nil {
			return Outcome[S]{}, err
		}
		defer done()
	}
	for attempt := 0; ; attempt++ {
		var (
			l    Loaded[S]
			part *Part
			err  error
		)
		if also != nil {
			if part, err = also(); err != nil {
				return Outcome[S]{}, err
			}
		}
		switch {
		case attempt == 0 && first != nil && first.seen != nil:
			l = *first
		case cache != nil:
			l, err = cache.Load(ctx, store, stream, agg)
		default:
			l, err = Load(ctx, store, stream, agg)
		}
		if err != nil {
			return Outcome[S]{}, err
		}
		if l.seen(EventID(cause.ID, stream, 0)) {
			return Outcome[S]{State: l.State, Replay: true, Expected: l.Expected}, nil
		}
		events, err := decide(l.State)
		if err != nil {
			return Outcome[S]{State: l.State, Expected: l.Expected}, err
		}
		if len(events) == 0 {
			return Outcome[S]{State: l.State, Expected: l.Expected}, nil
		}
		data, err := Encode(ctx, stream, cause, events)
		if err != nil {
			return Outcome[S]{}, err
		}
		var res AppendResult
		if part == nil {
			res, err = store.Append(ctx, stream, l.Expected, data...)
		} else {
			var results []AppendResult
			if results, err = AppendParts(ctx, store, *part, Part{Stream: stream, Expected: l.Expected, Events: data}); err == nil {
				res = results[1]
			}
		}
		if errors.Is(err, ErrConflict) && attempt+1 < maxAttempts {
			// The writers that lost back off a little, at random, so they
			// do not collide again in lockstep.
			if attempt > 0 {
				select {
				case <-ctx.Done():
					return Outcome[S]{}, ctx.Err()
				case <-time.After(time.Duration(rand.Int64N(int64(attempt) * int64(time.Millisecond)))):
				}
			}
			continue
		}
		if err != nil {
			return Outcome[S]{}, fmt.Errorf("append %s: %w", stream, err)
		}
		s := l.State
		for _, e := range events {
			s = agg.Evolve(s, e)
		}
		if cache != nil {
			cache.appended(stream, l.Expected, res.NextExpected, s, data)
		}
		return Outcome[S]{State: s, Events: events, Position: res.Position, Expected: res.NextExpected}, nil
	}
}

// Encode turns events into EventData with deterministic ids and metadata
// carrying the cause, correlation and the caller's trace context.
func Encode(ctx context.Context, stream string, cause Cause, events []proto.Message) ([]EventData, error) {
	meta := map[string]string{MetaCausation: cause.ID}
	if cause.Correlation != "" {
		meta[MetaCorrelation] = cause.Correlation
	}
	otel.GetTextMapPropagator().Inject(ctx, propagation.MapCarrier(meta))
	if _, ok := meta[MetaTraceParent]; !ok {
		propagation.TraceContext{}.Inject(ctx, propagation.MapCarrier(meta))
	}
	out := make([]EventData, len(events))
	for i, e := range events {
		b, err := proto.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", catalog.TypeName(e), err)
		}
		out[i] = EventData{ID: EventID(cause.ID, stream, i), Type: catalog.TypeName(e), Data: b, Metadata: meta}
	}
	return out, nil
}

// Decode returns the event a record holds.
func Decode(r RecordedEvent) (proto.Message, error) {
	return catalog.Decode(r.Type, r.Data)
}
