package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ringback/ringback/libs/eventstore"
)

// AppendParts implements eventstore.PartsAppender: the parts go to the
// append function together, in a transaction committed only when it wrote
// every part (or every part had been written before: a retry), and rolled
// back otherwise. Not group-committed with other appends: a conflict of
// one part must not fail appends it does not belong with.
func (s *Store) AppendParts(ctx context.Context, parts ...eventstore.Part) ([]eventstore.AppendResult, error) {
	if err := eventstore.CheckParts(parts); err != nil {
		return nil, err
	}
	if s.closing.Err() != nil {
		return nil, fmt.Errorf("append parts: %w", eventstore.ErrClosed)
	}
	var fence *eventstore.Fence
	if f, ok := eventstore.FenceOf(ctx); ok {
		fence = &f
	}
	reqs := make([]*appendReq, len(parts))
	for i, p := range parts {
		enc, err := prepare(p.Stream, p.Expected, p.Events)
		if err != nil {
			return nil, fmt.Errorf("append %s: %w", p.Stream, err)
		}
		reqs[i] = &appendReq{stream: p.Stream, expected: p.Expected, events: enc, fence: fence}
	}
	// Locked in name order, as the committers lock theirs.
	order := slices.Clone(reqs)
	slices.SortFunc(order, func(a, b *appendReq) int { return strings.Compare(a.stream, b.stream) })
	for range maxRetries {
		results, retry, err := s.callParts(order)
		if err != nil {
			return nil, fmt.Errorf("append parts: %w", err)
		}
		if retry {
			continue
		}
		out := make([]eventstore.AppendResult, len(reqs))
		for i, req := range reqs {
			out[i] = results[req]
		}
		return out, nil
	}
	return nil, fmt.Errorf("append parts: still told to retry after %d attempts", maxRetries)
}

// callParts runs the append function on the parts in a transaction of its
// own and commits it if every part was written, or every part replayed.
func (s *Store) callParts(order []*appendReq) (map[*appendReq]eventstore.AppendResult, bool, error) {
	defer s.appended()
	tx, err := s.pool.Begin(s.closing)
	if err != nil {
		return nil, false, err
	}
	defer func() { _ = tx.Rollback(s.closing) }() // after Commit, a no-op
	outcomes, err := s.call(tx, order)
	if err != nil {
		return nil, false, err
	}
	results := make(map[*appendReq]eventstore.AppendResult, len(order))
	var replayed *appendReq
	written := 0
	for i, req := range order {
		o := outcomes[i]
		switch o.outcome {
		case "ok", "replay":
			results[req] = o.result()
			if o.outcome == "ok" {
				written++
			} else {
				replayed = req
			}
		case "conflict":
			return nil, false, &eventstore.ConflictError{Stream: req.stream, Expected: req.expected, Actual: eventstore.ExpectedRevision(o.lastRev.Int64)}
		case "fenced":
			return nil, false, fmt.Errorf("lease %s generation %d: %w", req.fence.Name, req.fence.Generation, eventstore.ErrFenced)
		case "retry":
			return nil, true, nil
		default:
			return nil, false, fmt.Errorf("append function answered %q", o.outcome)
		}
	}
	if written > 0 && replayed != nil {
		// Some parts written before and some not: not this append again.
		return nil, false, &eventstore.ConflictError{Stream: replayed.stream, Expected: replayed.expected,
			Actual: results[replayed].NextExpected}
	}
	if err := tx.Commit(s.closing); err != nil {
		if !pgconn.SafeToRetry(err) {
			err = fmt.Errorf("outcome unknown: %w", err)
		}
		return nil, false, err
	}
	return results, false, nil
}

var _ eventstore.PartsAppender = (*Store)(nil)
