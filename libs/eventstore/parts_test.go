package eventstore_test

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// ExecuteAlso appends the caller's part with the decision, in one append;
// a stale part is handed back to its caller, never retried; a replay or a
// decision of nothing appends nothing of it.
func TestExecuteAlsoAppendsThePartWithTheDecision(t *testing.T) {
	st, ctx := open(t), context.Background()
	claim := func(cause string, expected eventstore.ExpectedRevision) eventstore.Part {
		data, err := eventstore.Encode(ctx, "claims-1", eventstore.Cause{ID: cause}, []proto.Message{&callbackv1.ContactClaimed{Holder: cause}})
		if err != nil {
			t.Fatal(err)
		}
		return eventstore.Part{Stream: "claims-1", Expected: expected, Events: data}
	}
	count := func(stream string) int {
		evs, err := st.ReadStream(ctx, stream, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}

	out, err := eventstore.ExecuteAlso(ctx, st, "s-1", counter, eventstore.Cause{ID: "a"}, add(1), claim("a", eventstore.NoStream))
	if err != nil || out.State != 1 || count("claims-1") != 1 {
		t.Fatalf("first: %+v, %v, %d claims", out, err, count("claims-1"))
	}
	// The same cause again: a replay, and the claim is not appended again.
	out, err = eventstore.ExecuteAlso(ctx, st, "s-1", counter, eventstore.Cause{ID: "a"}, add(1), claim("b", eventstore.Exactly(0)))
	if err != nil || !out.Replay || count("claims-1") != 1 {
		t.Fatalf("replay: %+v, %v, %d claims", out, err, count("claims-1"))
	}
	// Nothing decided: nothing of the part.
	if _, err = eventstore.ExecuteAlso(ctx, st, "s-2", counter, eventstore.Cause{ID: "c"}, add(0), claim("c", eventstore.Exactly(0))); err != nil || count("claims-1") != 1 {
		t.Fatalf("no events: %v, %d claims", err, count("claims-1"))
	}
	// A stale part: its conflict comes back, and s-3 is not written.
	_, err = eventstore.ExecuteAlso(ctx, st, "s-3", counter, eventstore.Cause{ID: "d"}, add(1), claim("d", eventstore.NoStream))
	var ce *eventstore.ConflictError
	if !errors.As(err, &ce) || ce.Stream != "claims-1" || count("s-3") != 0 {
		t.Fatalf("stale part: %v, %d events on s-3", err, count("s-3"))
	}
	// A stream with events: decided on its state, the part beside it.
	if _, err := st.Append(ctx, "s-4", eventstore.NoStream, eventstore.EventData{ID: eventstore.EventID("x", "s-4", 0), Type: "ringback.callback.v1.CallbackCancelled"}); err != nil {
		t.Fatal(err)
	}
	out, err = eventstore.ExecuteAlso(ctx, st, "s-4", counter, eventstore.Cause{ID: "e"}, add(1), claim("e", eventstore.Exactly(0)))
	if err != nil || out.State != 2 || count("claims-1") != 2 {
		t.Fatalf("after s-4 moved: %+v, %v, %d claims", out, err, count("claims-1"))
	}
}
