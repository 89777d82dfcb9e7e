package eventstoretest

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
)

// newStream returns a stream name no other case or run uses, following the
// house pattern <service>-<noun>-<id>.
func newStream(noun string) string {
	return "conformance-" + noun + "-" + uuid.NewString()
}

func newEvent(typ string) eventstore.EventData {
	id := uuid.NewString()
	return eventstore.EventData{
		ID:       id,
		Type:     typ,
		Data:     []byte("data of " + id),
		Metadata: map[string]string{"causation-id": id},
	}
}

func mustAppend(t *testing.T, s eventstore.Store, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	r, err := s.Append(t.Context(), stream, expected, events...)
	if err != nil {
		t.Fatalf("append %s at %d: %v", stream, expected, err)
	}
	return r
}

func mustRead(t *testing.T, s eventstore.Store, stream string, from eventstore.Revision) []eventstore.RecordedEvent {
	t.Helper()
	evs, err := s.ReadStream(t.Context(), stream, from)
	if err != nil {
		t.Fatalf("read %s from %d: %v", stream, from, err)
	}
	return evs
}

// checkEvents compares stored events with what was appended, starting at
// revision first of stream.
func checkEvents(t *testing.T, got []eventstore.RecordedEvent, stream string, first eventstore.Revision, want ...eventstore.EventData) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d events, want %d", stream, len(got), len(want))
		return
	}
	for i, g := range got {
		w := want[i]
		switch {
		case g.Stream != stream:
			t.Errorf("event %d: stream %q, want %q", i, g.Stream, stream)
		case g.Revision != first+eventstore.Revision(i):
			t.Errorf("event %d: revision %d, want %d", i, g.Revision, first+eventstore.Revision(i))
		case g.ID != w.ID:
			t.Errorf("event %d: id %s, want %s", i, g.ID, w.ID)
		case g.Type != w.Type:
			t.Errorf("event %d: type %q, want %q", i, g.Type, w.Type)
		case !bytes.Equal(g.Data, w.Data):
			t.Errorf("event %d: data %q, want %q", i, g.Data, w.Data)
		case !maps.Equal(g.Metadata, w.Metadata):
			t.Errorf("event %d: metadata %v, want %v", i, g.Metadata, w.Metadata)
		case g.Position == eventstore.Position{}:
			t.Errorf("event %d: zero position", i)
		case g.Time.IsZero():
			t.Errorf("event %d: zero time", i)
		case i > 0 && !got[i-1].Position.Less(g.Position):
			t.Errorf("event %d: position %v does not follow %v", i, g.Position, got[i-1].Position)
		}
	}
}

// onStreams keeps the events of the named streams: a shared server carries
// every other case's events too.
func onStreams(streams ...string) func(eventstore.RecordedEvent) bool {
	return func(e eventstore.RecordedEvent) bool {
		for _, s := range streams {
			if e.Stream == s {
				return true
			}
		}
		return false
	}
}

// subscription runs SubscribeAll in a goroutine the test owns: stop or
// cleanup cancels it and waits for it to return.
type subscription struct {
	events chan eventstore.RecordedEvent
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done closes
}

func subscribe(t *testing.T, s eventstore.Store, from eventstore.Position, keep func(eventstore.RecordedEvent) bool) *subscription {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sub := &subscription{
		events: make(chan eventstore.RecordedEvent, 4096),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go func() {
		defer close(sub.done)
		sub.err = s.SubscribeAll(ctx, from, func(ctx context.Context, e eventstore.RecordedEvent) error {
			if !keep(e) {
				return nil
			}
			select {
			case sub.events <- e:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-sub.done:
		case <-time.After(wait):
			t.Errorf("SubscribeAll did not return within %v of its context being cancelled", wait)
		}
	})
	return sub
}

// next returns the next n events kept by the subscription.
func (sub *subscription) next(t *testing.T, n int) []eventstore.RecordedEvent {
	t.Helper()
	timeout := time.After(wait)
	var got []eventstore.RecordedEvent
	for len(got) < n {
		select {
		case e := <-sub.events:
			got = append(got, e)
		case <-sub.done:
			select {
			case e := <-sub.events: // delivered before it ended
				got = append(got, e)
				continue
			default:
			}
			t.Fatalf("subscription ended after %d of %d events: %v", len(got), n, sub.err)
		case <-timeout:
			t.Fatalf("got %d of %d events within %v", len(got), n, wait)
		}
	}
	return got
}

// stop cancels the subscription and returns what SubscribeAll returned.
func (sub *subscription) stop(t *testing.T) error {
	t.Helper()
	sub.cancel()
	return sub.wait(t)
}

// end stops the subscription, which must end as its context's cancel.
func (sub *subscription) end(t *testing.T) {
	t.Helper()
	if err := sub.stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped subscription returned %v, want its context's cancel", err)
	}
}

// wait returns what SubscribeAll returned once it has.
func (sub *subscription) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-sub.done:
		return sub.err
	case <-time.After(wait):
		t.Fatalf("SubscribeAll did not return within %v", wait)
		return nil
	}
}
