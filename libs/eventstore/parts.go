package eventstore

import (
	"context"
	"errors"
	"fmt"
)

// Part is one stream's share of an append across streams.
type Part struct {
	Stream   string
	Expected ExpectedRevision
	Events   []EventData
}

// PartsAppender is a Store that appends to several streams at once: every
// part is written, or none. A part whose expectation does not hold fails
// them all with a *ConflictError naming its stream. Parts that were all
// appended before with the same ids at the same expectations are a no-op
// returning the same results, as Append's replay; some replayed and some
// not is a conflict. The embedded store and PostgreSQL are; KurrentDB is
// not (AppendParts appends its parts in order).
type PartsAppender interface {
	AppendParts(ctx context.Context, parts ...Part) ([]AppendResult, error)
}

// AppendParts appends parts to their streams: at once, all or nothing,
// where store is a PartsAppender; otherwise one after the other, in order,
// stopping at the first that fails (so a part is only written after every
// part before it was). The results are the parts', in order.
func AppendParts(ctx context.Context, store Store, parts ...Part) ([]AppendResult, error) {
	if err := CheckParts(parts); err != nil {
		return nil, err
	}
	if pa, ok := store.(PartsAppender); ok {
		return pa.AppendParts(ctx, parts...)
	}
	out := make([]AppendResult, len(parts))
	for i, p := range parts {
		res, err := store.Append(ctx, p.Stream, p.Expected, p.Events...)
		if err != nil {
			return nil, err
		}
		out[i] = res
	}
	return out, nil
}

// CheckParts refuses no parts and a stream named twice: an atomic append
// decides each part against its stream as it was before the append.
func CheckParts(parts []Part) error {
	if len(parts) == 0 {
		return errors.New("append parts: no parts")
	}
	seen := make(map[string]bool, len(parts))
	for _, p := range parts {
		if seen[p.Stream] {
			return fmt.Errorf("append parts: stream %s twice", p.Stream)
		}
		seen[p.Stream] = true
	}
	return nil
}
