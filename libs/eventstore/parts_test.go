package eventstore_test

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// ExecuteAlso appends the part also decides with the decision, in one
// append; a conflict on the part's stream asks also again; also's error
// ends the command; a replay or a decision of nothing appends nothing of
// the part.
func TestExecuteAlsoAppendsThePartWithTheDecision(t *testing.T) {
	st, ctx := open(t), context.Background()
	count := func(stream string) int {
		evs, err := st.ReadStream(ctx, stream, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	asked := 0
	// claim decides a claim at expected, or at the stream's revision as read.
	claim := func(cause string, expected *eventstore.ExpectedRevision) func() (*eventstore.Part, error) {
		return func() (*eventstore.Part, error) {
			asked++
			exp := eventstore.NoStream
			if n := count("claims-1"); n > 0 {
				exp = eventstore.Exactly(uint64(n - 1))
			}
			if expected != nil {
				exp, expected = *expected, nil // stale once
			}
			data, err := eventstore.Encode(ctx, "claims-1", eventstore.Cause{ID: cause}, []proto.Message{&callbackv1.ContactClaimed{Holder: cause}})
			if err != nil {
				return nil, err
			}
			return &eventstore.Part{Stream: "claims-1", Expected: exp, Events: data}, nil
		}
	}

	out, err := eventstore.ExecuteAlso(ctx, st, "s-1", counter, eventstore.Cause{ID: "a"}, add(1), claim("a", nil))
	if err != nil || out.State != 1 || count("claims-1") != 1 {
		t.Fatalf("first: %+v, %v, %d claims", out, err, count("claims-1"))
	}
	// The same cause again: a replay, and no second claim.
	out, err = eventstore.ExecuteAlso(ctx, st, "s-1", counter, eventstore.Cause{ID: "a"}, add(1), claim("b", nil))
	if err != nil || !out.Replay || count("claims-1") != 1 {
		t.Fatalf("replay: %+v, %v, %d claims", out, err, count("claims-1"))
	}
	// Nothing decided: nothing of the part.
	if _, err = eventstore.ExecuteAlso(ctx, st, "s-2", counter, eventstore.Cause{ID: "c"}, add(0), claim("c", nil)); err != nil || count("claims-1") != 1 {
		t.Fatalf("no events: %v, %d claims", err, count("claims-1"))
	}
	// The part refused: its error, and nothing written.
	refused := errors.New("held")
	_, err = eventstore.ExecuteAlso(ctx, st, "s-3", counter, eventstore.Cause{ID: "d"}, add(1),
		func() (*eventstore.Part, error) { return nil, refused })
	if !errors.Is(err, refused) || count("s-3") != 0 {
		t.Fatalf("a refused part: %v, %d events on s-3", err, count("s-3"))
	}
	// A stale part: its stream conflicts, also is asked again, and the
	// second decision lands with the events.
	stale := eventstore.NoStream
	asked = 0
	out, err = eventstore.ExecuteAlso(ctx, st, "s-4", counter, eventstore.Cause{ID: "e"}, add(1), claim("e", &stale))
	if err != nil || out.State != 1 || count("claims-1") != 2 || asked != 2 {
		t.Fatalf("a stale part: %+v, %v, %d claims, asked %d times", out, err, count("claims-1"), asked)
	}
	// No part: the events alone.
	if _, err = eventstore.ExecuteAlso(ctx, st, "s-5", counter, eventstore.Cause{ID: "f"}, add(1),
		func() (*eventstore.Part, error) { return nil, nil }); err != nil || count("s-5") != 1 || count("claims-1") != 2 {
		t.Fatalf("no part: %v", err)
	}
}
