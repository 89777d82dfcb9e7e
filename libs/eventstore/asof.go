package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ringback/ringback/proto/catalog"
)

// AsOf is a stream's state as it was at a past moment (issue 14, time
// travel): folded from its events recorded up to At. Events counts them;
// Last is the last one folded (its revision, position and time say which
// event the state is as of). Events == 0 means the stream did not exist yet.
type AsOf[S any] struct {
	State  S
	At     time.Time
	Events int
	Last   RecordedEvent
}

// ErrBeforeStream is LoadAt's answer for a moment before the stream's first
// event: there was no state then to show.
var ErrBeforeStream = errors.New("the stream did not exist yet at that time")

// FoldUntil folds the events of one stream, in stream order, that were
// recorded at or before at. It stops at the first event recorded after at
// rather than skipping it: a state is always a prefix of its stream, never
// a prefix with holes, even if replicas' clocks disagreed a little when
// they appended. Events of types this build does not know are skipped as
// Load skips them.
func FoldUntil[S any](recs []RecordedEvent, agg Aggregate[S], at time.Time) AsOf[S] {
	out := AsOf[S]{State: agg.Initial, At: at}
	for _, r := range recs {
		if r.Time.After(at) {
			break
		}
		out.Events++
		out.Last = r
		m, err := catalog.Decode(r.Type, r.Data)
		if err != nil {
			continue
		}
		out.State = agg.Evolve(out.State, m)
	}
	return out
}

// LoadAt reads stream and folds it up to at (FoldUntil). A stream whose
// first event was recorded after at answers ErrBeforeStream; a stream that
// does not exist at all answers the initial state, as Load does, so that the
// caller says "not found" as its live read does.
func LoadAt[S any](ctx context.Context, store Store, stream string, agg Aggregate[S], at time.Time) (AsOf[S], error) {
	recs, err := store.ReadStream(ctx, stream, 0)
	if err != nil {
		return AsOf[S]{}, fmt.Errorf("read %s: %w", stream, err)
	}
	out := FoldUntil(recs, agg, at)
	if out.Events == 0 && len(recs) > 0 {
		return out, ErrBeforeStream
	}
	return out, nil
}
