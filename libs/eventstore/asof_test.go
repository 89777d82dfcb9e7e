package eventstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/proto/catalog"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

func TestFoldUntil(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	data, _ := proto.Marshal(&callbackv1.CallbackCancelled{CallbackId: "c"})
	rec := func(rev uint64, sec int, typ string) eventstore.RecordedEvent {
		return eventstore.RecordedEvent{Stream: "s", Revision: rev, Position: eventstore.Position{Commit: rev + 10, Prepare: rev + 10},
			Type: typ, Data: data, Time: t0.Add(time.Duration(sec) * time.Second)}
	}
	known := catalog.TypeName(&callbackv1.CallbackCancelled{})
	recs := []eventstore.RecordedEvent{rec(0, 0, known), rec(1, 10, known), rec(2, 10, "ringback.future.v9.Unknown"),
		rec(3, 20, known), rec(4, 15, known), rec(5, 30, known)}
	for _, tc := range []struct {
		name          string
		at            time.Time
		state, events int
		lastRev       uint64
	}{
		{"before the first event", t0.Add(-time.Second), 0, 0, 0},
		{"at the first event, inclusive", t0, 1, 1, 0},
		{"between events", t0.Add(5 * time.Second), 1, 1, 0},
		{"an unknown type counts as seen but does not fold", t0.Add(10 * time.Second), 2, 3, 2},
		{"stops at the first later event: no holes", t0.Add(17 * time.Second), 2, 3, 2},
		{"past the skewed event", t0.Add(25 * time.Second), 4, 5, 4},
		{"after the last event", t0.Add(time.Hour), 5, 6, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := eventstore.FoldUntil(recs, counter, tc.at)
			if got.State != tc.state || got.Events != tc.events || !got.At.Equal(tc.at) {
				t.Fatalf("state %d events %d at %v, want %d %d", got.State, got.Events, got.At, tc.state, tc.events)
			}
			if tc.events > 0 && (got.Last.Revision != tc.lastRev || got.Last.Position.Commit != tc.lastRev+10) {
				t.Fatalf("last %+v, want revision %d", got.Last, tc.lastRev)
			}
		})
	}
}

func TestLoadAtFromTheEmbeddedStore(t *testing.T) {
	st, ctx := open(t), context.Background()
	if got, err := eventstore.LoadAt(ctx, st, "s-1", counter, time.Now()); err != nil || got.Events != 0 {
		t.Fatalf("no stream: %+v %v", got, err)
	}
	before := time.Now().Add(-time.Second)
	if _, err := eventstore.Execute(ctx, st, "s-1", counter, eventstore.Cause{ID: "a"}, add(2)); err != nil {
		t.Fatal(err)
	}
	mid := time.Now()
	time.Sleep(5 * time.Millisecond) // the store's clock must move past mid
	if _, err := eventstore.Execute(ctx, st, "s-1", counter, eventstore.Cause{ID: "b"}, add(3)); err != nil {
		t.Fatal(err)
	}
	if _, err := eventstore.LoadAt(ctx, st, "s-1", counter, before); !errors.Is(err, eventstore.ErrBeforeStream) {
		t.Fatalf("before the stream: %v", err)
	}
	got, err := eventstore.LoadAt(ctx, st, "s-1", counter, mid)
	if err != nil || got.State != 2 || got.Last.Revision != 1 {
		t.Fatalf("at mid: %+v %v", got, err)
	}
	got, err = eventstore.LoadAt(ctx, st, "s-1", counter, time.Now())
	if err != nil || got.State != 5 || got.Last.Revision != 4 || got.Last.Time.IsZero() {
		t.Fatalf("now: %+v %v", got, err)
	}
}
