package embedded

import (
	"context"
	"errors"
	"testing"

	"github.com/ringback/ringback/libs/eventstore"
)

// AppendParts writes every part or none: a conflict on any part fails them
// all and names its stream; the same parts again are a replay; some parts
// replayed and some new is a conflict; a stream twice is refused.
func TestAppendPartsAllOrNone(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Append(ctx, "claims-1", eventstore.NoStream, ev("earlier claim")); err != nil {
		t.Fatal(err)
	}
	claim, request := ev("claim"), ev("request")
	parts := []eventstore.Part{
		{Stream: "claims-1", Expected: eventstore.Exactly(0), Events: []eventstore.EventData{claim}},
		{Stream: "request-1", Expected: eventstore.NoStream, Events: []eventstore.EventData{request}},
	}
	res, err := s.AppendParts(ctx, parts...)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].NextExpected != eventstore.Exactly(1) || res[1].NextExpected != eventstore.Exactly(0) ||
		res[1].Position.Commit != res[0].Position.Commit+1 {
		t.Fatalf("results %+v", res)
	}
	again, err := s.AppendParts(ctx, parts...)
	if err != nil || again[0] != res[0] || again[1] != res[1] {
		t.Fatalf("the same parts again: %+v, %v; want the first results %+v", again, err, res)
	}
	count := func(stream string) int {
		evs, err := s.ReadStream(ctx, stream, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	if count("claims-1") != 2 || count("request-1") != 1 {
		t.Fatalf("after a replay: %d claims, %d requests", count("claims-1"), count("request-1"))
	}

	// The claim's expectation no longer holds: neither part is written.
	_, err = s.AppendParts(ctx,
		eventstore.Part{Stream: "request-2", Expected: eventstore.NoStream, Events: []eventstore.EventData{ev("request 2")}},
		eventstore.Part{Stream: "claims-1", Expected: eventstore.Exactly(0), Events: []eventstore.EventData{ev("claim 2")}})
	var ce *eventstore.ConflictError
	if !errors.As(err, &ce) || ce.Stream != "claims-1" {
		t.Fatalf("a stale part: %v, want a conflict on claims-1", err)
	}
	if count("request-2") != 0 || count("claims-1") != 2 {
		t.Fatalf("a failed AppendParts wrote: %d requests, %d claims", count("request-2"), count("claims-1"))
	}

	// One part appended before, the other new: not the same append.
	_, err = s.AppendParts(ctx, parts[0], eventstore.Part{Stream: "request-3", Expected: eventstore.NoStream,
		Events: []eventstore.EventData{ev("request 3")}})
	if !errors.As(err, &ce) || ce.Stream != "claims-1" || count("request-3") != 0 {
		t.Fatalf("half a replay: %v, %d written", err, count("request-3"))
	}

	if _, err := s.AppendParts(ctx, parts[1], parts[1]); err == nil {
		t.Fatal("a stream twice was taken")
	}

	// Written in one frame: after a reopen, both parts are there.
	dir := s.dir
	s.Close()
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	s = s2
	if count("claims-1") != 2 || count("request-1") != 1 {
		t.Fatalf("after reopening: %d claims, %d requests", count("claims-1"), count("request-1"))
	}
}

// A store that cannot append parts at once (PostgreSQL, KurrentDB) gets
// them one after the other, in order, stopping at the first that fails.
func TestAppendPartsInOrderElsewhere(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	plain := struct{ eventstore.Store }{s} // hides AppendParts
	_, err = eventstore.AppendParts(ctx, plain,
		eventstore.Part{Stream: "a", Expected: eventstore.NoStream, Events: []eventstore.EventData{ev("a")}},
		eventstore.Part{Stream: "b", Expected: eventstore.Exactly(3), Events: []eventstore.EventData{ev("b")}},
		eventstore.Part{Stream: "c", Expected: eventstore.NoStream, Events: []eventstore.EventData{ev("c")}})
	if !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("a stale second part: %v", err)
	}
	for stream, want := range map[string]int{"a": 1, "b": 0, "c": 0} {
		if evs, _ := s.ReadStream(ctx, stream, 0); len(evs) != want {
			t.Errorf("%s holds %d events, want %d", stream, len(evs), want)
		}
	}
}
