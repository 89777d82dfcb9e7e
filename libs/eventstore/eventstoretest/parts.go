package eventstoretest

import (
	"errors"
	"testing"

	"github.com/ringback/ringback/libs/eventstore"
)

// testAppendParts: a store that appends parts at once (PartsAppender)
// writes all or none, replays the same parts, and refuses half a replay;
// any other store gets them in order through eventstore.AppendParts,
// stopping at the first that fails.
func testAppendParts(t *testing.T, s eventstore.Store) {
	ctx := t.Context()
	claims, request := newStream("claims"), newStream("request")
	mustAppend(t, s, claims, eventstore.NoStream, newEvent("t.v1.Claimed"))
	parts := []eventstore.Part{
		{Stream: claims, Expected: eventstore.Exactly(0), Events: []eventstore.EventData{newEvent("t.v1.Claimed")}},
		{Stream: request, Expected: eventstore.NoStream, Events: []eventstore.EventData{newEvent("t.v1.Requested")}},
	}
	res, err := eventstore.AppendParts(ctx, s, parts...)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].NextExpected != eventstore.Exactly(1) || res[1].NextExpected != eventstore.Exactly(0) {
		t.Fatalf("results %+v", res)
	}
	checkEvents(t, mustRead(t, s, request, 0), request, 0, parts[1].Events...)

	// A stale part, after one that holds.
	other := newStream("request")
	_, err = eventstore.AppendParts(ctx, s,
		eventstore.Part{Stream: other, Expected: eventstore.NoStream, Events: []eventstore.EventData{newEvent("t.v1.Requested")}},
		eventstore.Part{Stream: claims, Expected: eventstore.Exactly(0), Events: []eventstore.EventData{newEvent("t.v1.Claimed")}})
	var ce *eventstore.ConflictError
	if !errors.As(err, &ce) || ce.Stream != claims {
		t.Fatalf("a stale part: %v, want a conflict on %s", err, claims)
	}
	if len(mustRead(t, s, claims, 0)) != 2 {
		t.Fatal("a failed AppendParts wrote to the stale part's stream")
	}
	if _, ok := s.(eventstore.PartsAppender); !ok {
		return // in order: the first part is written, as said
	}
	if got := mustRead(t, s, other, 0); len(got) != 0 {
		t.Fatalf("a failed AppendParts wrote %d events beside the stale part", len(got))
	}

	again, err := eventstore.AppendParts(ctx, s, parts...)
	if err != nil || again[0].NextExpected != res[0].NextExpected || again[1].NextExpected != res[1].NextExpected {
		t.Fatalf("the same parts again: %+v, %v; want %+v", again, err, res)
	}
	half := newStream("request")
	_, err = eventstore.AppendParts(ctx, s, parts[0],
		eventstore.Part{Stream: half, Expected: eventstore.NoStream, Events: []eventstore.EventData{newEvent("t.v1.Requested")}})
	if !errors.As(err, &ce) || len(mustRead(t, s, half, 0)) != 0 {
		t.Fatalf("half a replay: %v", err)
	}
	if _, err := eventstore.AppendParts(ctx, s, parts[1], parts[1]); err == nil {
		t.Fatal("a stream twice was taken")
	}
}
