package service_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/inbox"
	"github.com/ringback/ringback/libs/readmodel"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// cancels is a tiny domain: how many cancellations a stream holds; a
// cancellation beyond the first is refused.
var cancels = service.Domain[int, string]{
	Stream: func(id string) string { return "intake-callback-" + id },
	Aggregate: eventstore.Aggregate[int]{Evolve: func(n int, e proto.Message) int {
		if _, ok := e.(*callbackv1.CallbackCancelled); ok {
			return n + 1
		}
		return n
	}},
	Decide: func(n int, reason string) ([]proto.Message, error) {
		if n > 0 {
			return nil, errors.New("cancelled already")
		}
		return []proto.Message{&callbackv1.CallbackCancelled{CallbackId: "c", Reason: reason}}, nil
	},
}

func deps(env *servicetest.Env) service.Deps {
	return service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}
}

func TestDomainExecuteIsTheWritePath(t *testing.T) {
	env := servicetest.New(t)
	ctx := context.Background()
	out, err := cancels.Execute(ctx, env.Store, "c", eventstore.Cause{ID: "x"}, "by the visitor")
	if err != nil || out.State != 1 {
		t.Fatalf("first: %+v %v", out, err)
	}
	if out, err := cancels.Execute(ctx, env.Store, "c", eventstore.Cause{ID: "x"}, "again"); err != nil || !out.Replay {
		t.Fatalf("the same cause again: %+v %v; want a replay", out, err)
	}
	if _, err := cancels.Execute(ctx, env.Store, "c", eventstore.Cause{ID: "y"}, "twice"); err == nil {
		t.Fatal("the domain's refusal was not returned")
	}
	l, err := cancels.Load(ctx, env.Store, "c")
	if err != nil || l.State != 1 {
		t.Fatalf("load: %d %v", l.State, err)
	}
	if _, err := cancels.ExecuteFrom(ctx, env.Store, l, "c", eventstore.Cause{ID: "z"}, "from a read"); err == nil {
		t.Fatal("ExecuteFrom did not decide from the read state")
	}
}

// Run runs the read model, the inbox and the loops together; a loop or an
// inbox that fails (the bus not answering as it subscribes) is run again,
// and the service goes on.
func TestRunRunsTheReadModelTheInboxAndTheLoops(t *testing.T) {
	env := servicetest.New(t)
	d := deps(env)
	var subscribes *atomic.Int32
	d.Subscribers, subscribes = servicetest.FailingFirst(d.Subscribers)
	var folded, handled, looped atomic.Int32
	proj := &readmodel.Projection{Prefixes: []string{"intake-"}, Apply: func(eventstore.RecordedEvent, proto.Message) { folded.Add(1) }}
	boom := errors.New("loop failed")
	fail := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- d.Run(ctx, proj, inbox.Config{Name: "service-test", Topics: []string{envelope.TopicOf("intake")}},
			func(context.Context, envelope.Envelope) error { handled.Add(1); return nil },
			func(ctx context.Context) error {
				looped.Add(1)
				select {
				case <-fail:
					return boom
				case <-ctx.Done():
					return nil
				}
			})
	}()
	env.Relay(envelope.TopicOf("intake"))
	env.Append("intake-callback-1", "c1", &callbackv1.CallbackCancelled{CallbackId: "1"})
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: folded %d, handled %d, looped %d", what, folded.Load(), handled.Load(), looped.Load())
			}
		}
	}
	waitUntil("running", func() bool { return folded.Load() > 0 && handled.Load() > 0 && looped.Load() > 0 })
	if n := subscribes.Load(); n != 2 {
		t.Fatalf("the inbox subscribed %d times; want 2 (the failed attempt, then the one that handled)", n)
	}
	// A loop that fails (its store unavailable a moment) is run again; the
	// service goes on.
	fail <- struct{}{}
	waitUntil("the failed loop restarted", func() bool { return looped.Load() == 2 })
	select {
	case err := <-done:
		t.Fatalf("a failed loop stopped the service: %v", err)
	default:
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run ended with %v, want nil on cancellation", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the service did not stop on cancellation")
	}
}
