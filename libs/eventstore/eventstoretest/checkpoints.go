package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
)

// testCheckpoints holds an adapter to the Checkpoints contract: unknown
// names read as the start, saves are durable across a reopen of the same
// store handle's reads, and a checkpoint never moves backwards, even when
// replicas save the same name concurrently.
func testCheckpoints(t *testing.T, s eventstore.Store) {
	cp, ok := s.(eventstore.Checkpoints)
	if !ok {
		t.Fatalf("%T does not implement eventstore.Checkpoints", s)
	}
	ctx := t.Context()
	name := "conformance-" + uuid.NewString()
	if p, err := cp.LoadCheckpoint(ctx, name); err != nil || p != (eventstore.Position{}) {
		t.Fatalf("LoadCheckpoint of a new name = %v, %v; want the zero position", p, err)
	}
	// Real positions, so that adapters with a structured position accept them.
	stream := newStream("checkpoint")
	var positions []eventstore.Position
	exp := eventstore.NoStream
	for range 3 {
		r := mustAppend(t, s, stream, exp, newEvent("test.Changed"))
		positions = append(positions, r.Position)
		exp = r.NextExpected
	}
	for _, step := range []struct {
		save, want eventstore.Position
	}{
		{positions[1], positions[1]},
		{positions[0], positions[1]}, // backwards: ignored
		{positions[2], positions[2]},
		{positions[2], positions[2]}, // the same again: fine
	} {
		if err := cp.SaveCheckpoint(ctx, name, step.save); err != nil {
			t.Fatalf("SaveCheckpoint(%v): %v", step.save, err)
		}
		if p, err := cp.LoadCheckpoint(ctx, name); err != nil || p != step.want {
			t.Fatalf("after saving %v: LoadCheckpoint = %v, %v; want %v", step.save, p, err, step.want)
		}
	}

	// Replicas racing: whatever the interleaving, the greatest wins.
	other := "conformance-" + uuid.NewString()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if err := cp.SaveCheckpoint(ctx, other, positions[i%len(positions)]); err != nil {
				t.Errorf("concurrent SaveCheckpoint: %v", err)
			}
		})
	}
	wg.Wait()
	if p, err := cp.LoadCheckpoint(ctx, other); err != nil || p != positions[2] {
		t.Errorf("after concurrent saves: LoadCheckpoint = %v, %v; want %v", p, err, positions[2])
	}
}

// testHead holds an adapter to HeadReader: after an append, the head is
// at or past that event, and a subscription from the start reaches it.
func testHead(t *testing.T, s eventstore.Store) {
	h, ok := s.(eventstore.HeadReader)
	if !ok {
		t.Fatalf("%T does not implement eventstore.HeadReader", s)
	}
	stream := newStream("head")
	r := mustAppend(t, s, stream, eventstore.NoStream, newEvent("test.Created"))
	head, err := h.Head(t.Context())
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	if head.Less(r.Position) {
		t.Fatalf("Head = %v, before the event just appended at %v", head, r.Position)
	}
	// Every event up to the head is delivered: the subscription reaches it.
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	err = s.SubscribeAll(ctx, eventstore.Position{}, func(_ context.Context, e eventstore.RecordedEvent) error {
		if !e.Position.Less(head) {
			if head.Less(e.Position) {
				return fmt.Errorf("passed the head %v without an event there: next is %v", head, e.Position)
			}
			return errReached
		}
		return nil
	})
	if !errors.Is(err, errReached) {
		t.Fatalf("subscription from the start did not reach the head %v: %v", head, err)
	}
}

var errReached = errors.New("reached")
