package readmodel_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
	"github.com/ringback/ringback/libs/readmodel"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

func write(t *testing.T, st eventstore.Store, stream string, n int) eventstore.Position {
	t.Helper()
	var pos eventstore.Position
	for i := range n {
		ev := &callbackv1.CallbackCancelled{CallbackId: stream, Reason: fmt.Sprint(i), At: timestamppb.Now()}
		out, err := eventstore.Execute(t.Context(), st, stream, eventstore.Aggregate[int]{Evolve: func(n int, _ proto.Message) int { return n + 1 }},
			eventstore.Cause{ID: fmt.Sprint(stream, i)}, func(int) ([]proto.Message, error) { return []proto.Message{ev}, nil })
		if err != nil {
			t.Fatal(err)
		}
		pos = out.Position
	}
	return pos
}

// TestReadyOnlyWhenCaughtUp: a replica starting on a store that already
// holds events is not ready until its view holds them all.
func TestReadyOnlyWhenCaughtUp(t *testing.T) {
	st, err := embedded.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	write(t, st, "intake-callback-a", 500)
	write(t, st, "other-x", 500)

	var folded atomic.Int64
	block := make(chan struct{})
	p := &readmodel.Projection{Prefixes: []string{"intake-"}, Apply: func(eventstore.RecordedEvent, proto.Message) {
		<-block // a slow fold: the replica is still catching up
		folded.Add(1)
	}}
	if p.Ready() == nil {
		t.Fatal("ready before Run")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, st) }()
	time.Sleep(20 * time.Millisecond)
	if err := p.Ready(); err == nil {
		t.Fatal("ready while the first event is still being folded")
	} else {
		t.Logf("while catching up: %v", err)
	}
	close(block)
	wctx, wcancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer wcancel()
	if err := p.WaitUntil(wctx, func() bool { return p.Ready() == nil }); err != nil {
		t.Fatalf("never caught up: %v", p.Ready())
	}
	if folded.Load() != 500 {
		t.Fatalf("ready with %d of 500 events folded", folded.Load())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// readyIntakeView is a view of the intake- streams over a new embedded
// store, caught up, with a context for the test's waits (10 s).
func readyIntakeView(t *testing.T) (eventstore.Store, *readmodel.Projection, context.Context) {
	t.Helper()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	p := &readmodel.Projection{Prefixes: []string{"intake-"}, Apply: func(eventstore.RecordedEvent, proto.Message) {}}
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	go func() { _ = p.Run(ctx, st) }()
	wctx, wcancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(wcancel)
	if err := p.WaitUntil(wctx, func() bool { return p.Ready() == nil }); err != nil {
		t.Fatal(err)
	}
	return st, p, wctx
}

// TestChangedOnlyForWantedStreams: other services' events move the
// position but do not wake the service's loops.
func TestChangedOnlyForWantedStreams(t *testing.T) {
	st, p, wctx := readyIntakeView(t)
	ch := p.Changed()
	last := write(t, st, "other-x", 50)
	for p.Position().Less(last) {
		time.Sleep(time.Millisecond)
	}
	select {
	case <-ch:
		t.Fatal("woken by an event of a stream the projection does not fold")
	default:
	}
	pos := write(t, st, "intake-callback-b", 1)
	if err := p.WaitFor(wctx, pos); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("not woken by its own stream's event")
	}
}

// TestFromHeadReplaysNothing: a cache-like view starts at the head, ready
// at once, and folds only what comes after.
func TestFromHeadReplaysNothing(t *testing.T) {
	st, err := embedded.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	write(t, st, "history-callback-a", 100)
	var folded atomic.Int64
	p := &readmodel.Projection{Prefixes: []string{"history-"}, FromHead: true,
		Apply: func(eventstore.RecordedEvent, proto.Message) { folded.Add(1) }}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = p.Run(ctx, st) }()
	wctx, wcancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer wcancel()
	if err := p.WaitUntil(wctx, func() bool { return p.Ready() == nil }); err != nil {
		t.Fatal(err)
	}
	pos := write(t, st, "history-callback-b", 1)
	if err := p.WaitFor(wctx, pos); err != nil {
		t.Fatal(err)
	}
	if n := folded.Load(); n != 1 {
		t.Fatalf("folded %d events, want only the one after the head", n)
	}
}

// TestWaitPositionOfAnotherService: a client's consistency token is the
// position of any service's event; the view waits until it has read the
// store that far, though it folds nothing of that stream.
func TestWaitPositionOfAnotherService(t *testing.T) {
	st, p, wctx := readyIntakeView(t)
	waited := make(chan error, 1)
	target := eventstore.Position{Commit: 1 << 62}
	go func() {
		c, cc := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cc()
		waited <- p.WaitPosition(c, target)
	}()
	if err := <-waited; err == nil {
		t.Fatal("a position beyond the store's head was reported as read")
	}
	// Just past the last event: the next one of any stream reaches it,
	// and only a wake on events the view does not fold can say so.
	last := write(t, st, "other-y", 1)
	go func() {
		waited <- p.WaitPosition(wctx, eventstore.Position{Commit: last.Commit, Prepare: last.Prepare + 1})
	}()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-waited:
		t.Fatalf("the wait ended before the next event: %v", err)
	default:
	}
	write(t, st, "other-z", 1)
	if err := <-waited; err != nil {
		t.Fatalf("another stream's position never reached: %v (view at %v, waited for just past %v)", err, p.Position(), last)
	}
}
