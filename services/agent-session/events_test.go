package agentsession

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	"github.com/ringback/ringback/services/agent-session/agent"
)

// countingStore counts the store subscriptions a service opens.
type countingStore struct {
	eventstore.Store
	subscriptions atomic.Int64
}

func (c *countingStore) SubscribeAll(ctx context.Context, from eventstore.Position, fn func(context.Context, eventstore.RecordedEvent) error) error {
	c.subscriptions.Add(1)
	return c.Store.SubscribeAll(ctx, from, fn)
}

func (c *countingStore) Head(ctx context.Context) (eventstore.Position, error) {
	return c.Store.(eventstore.HeadReader).Head(ctx)
}

// TestDesktopsShareTheOneSubscription (issue 10): many desktops, two per
// agent, each get their own agent's changes and only those, and the
// service holds one store subscription for all of them.
func TestDesktopsShareTheOneSubscription(t *testing.T) {
	const agents = 40
	env := servicetest.New(t)
	st := &countingStore{Store: env.Store}
	r := startReplica(t, env, Config{}, st)
	var streams []<-chan pushed
	for i := range agents {
		id := fmt.Sprint("a", i)
		loginAs(t, r, id)
		for range 2 {
			c := listen(t, r.srv, id, "")
			if p := receive(t, c); p.name != "state" {
				t.Fatalf("snapshot starts with %q", p.name)
			}
			streams = append(streams, c)
		}
	}
	for i := range agents {
		id := fmt.Sprint("a", i)
		if _, err := r.s.onAgent(t.Context(), id, eventstoreCause(), agent.SetState{Agent: id, Channel: agent.WebCallback,
			State: agent.Ready, At: env.Clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	for k, c := range streams {
		var v agentView
		for v.Channels["webcallback"].State != "READY" {
			p := receive(t, c)
			if err := json.Unmarshal([]byte(p.data), &v); err != nil || p.name != "state" {
				t.Fatalf("stream %d: %q %v", k, p.name, err)
			}
			if want := fmt.Sprint("a", k/2); v.ID != want {
				t.Fatalf("stream of %s got %s's state", want, v.ID)
			}
		}
	}
	if n := st.subscriptions.Load(); n != 1 {
		t.Fatalf("%d store subscriptions for %d desktops, want 1", n, len(streams))
	}
}

// TestSlowDesktopIsResyncedWithoutAGap: a desktop that falls behind is
// dropped by the hub and resynced from the store; it sees every event once,
// in order, and the fold never waits for it.
func TestSlowDesktopIsResyncedWithoutAGap(t *testing.T) {
	const events = 300
	env := servicetest.New(t)
	r := startReplica(t, env, Config{}, nil)
	r.s.streamBuffer = 1
	loginAs(t, r, "a1")
	// The login's own events folded before the desktop connects, so the
	// first pushes after the snapshot are the burst's.
	before, err := env.Store.ReadStream(t.Context(), agent.Stream("a1"), 0)
	if err != nil || len(before) == 0 {
		t.Fatal(err)
	}
	if err := r.s.proj.WaitFor(t.Context(), before[len(before)-1].Position); err != nil {
		t.Fatal(err)
	}
	c := listen(t, r.srv, "a1", "")
	receive(t, c) // snapshot
	// One writer appends a burst far faster than the desktop takes it.
	burst := make([]proto.Message, events)
	for n := range burst {
		state := agent.Ready
		if n%2 == 1 {
			state = agent.NotReady
		}
		burst[n] = &agentv1.AgentStateChanged{AgentId: "a1", Channel: agent.WebCallback, State: state,
			Reason: fmt.Sprint("r", n), At: timestamppb.New(env.Clock.Now())}
	}
	env.Append(agent.Stream("a1"), "burst", burst...)
	recs, err := env.Store.ReadStream(t.Context(), agent.Stream("a1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	recs = recs[len(recs)-events:]
	for n, rec := range recs {
		p := receive(t, c)
		if p.name != "state" || p.id != idOf(rec.Position) {
			t.Fatalf("push %d: %s %s, want state %s", n, p.name, p.id, idOf(rec.Position))
		}
	}
	if n := counted(r.s.resyncs); n == 0 {
		t.Fatal("the desktop kept up with a buffer of 1: no resync tested")
	} else {
		t.Logf("%d resyncs over %d events", int(n), events)
	}
	// Live again after the resyncs.
	if _, err := r.s.onAgent(t.Context(), "a1", eventstoreCause(), agent.SetState{Agent: "a1", Channel: agent.WebCallback,
		State: agent.NotReady, Reason: "Lunch", At: env.Clock.Now()}); err != nil {
		t.Fatal(err)
	}
	var v agentView
	if p := receive(t, c); json.Unmarshal([]byte(p.data), &v) != nil || v.Channels["webcallback"].Reason != "Lunch" {
		t.Fatalf("after the resyncs: %+v", p)
	}
}

// TestResumeOnAnotherReplica: a desktop reconnecting with Last-Event-ID
// to another replica gets exactly what happened after that id, in order,
// and then what happens next.
func TestResumeOnAnotherReplica(t *testing.T) {
	env := servicetest.New(t)
	a, b := startReplica(t, env, Config{}, nil), startReplica(t, env, Config{}, nil)
	loginAs(t, a, "a1")
	folded(t, a)
	first := listen(t, a.srv, "a1", "")
	seen := receive(t, first).id
	a.stop() // the desktop's replica goes away

	var missed []string
	for _, st := range []agentv1.AgentState{agent.Ready, agent.NotReady} {
		out, err := b.s.onAgent(t.Context(), "a1", eventstoreCause(), agent.SetState{Agent: "a1", Channel: agent.WebCallback, State: st, At: env.Clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		missed = append(missed, idOf(out.Position))
	}
	waitFor(t, "b folds", func() bool {
		a, _ := b.s.view.agent("a1")
		return a.Channels[agent.WebCallback].State == agent.NotReady
	})
	again := listen(t, b.srv, "a1", seen)
	for _, id := range missed {
		if p := receive(t, again); p.name != "state" || p.id != id {
			t.Fatalf("resumed with %s %s, want state %s", p.name, p.id, id)
		}
	}
	out, err := b.s.onAgent(t.Context(), "a1", eventstoreCause(), agent.SetState{Agent: "a1", Channel: agent.WebCallback, State: agent.Ready, At: env.Clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if p := receive(t, again); p.id != idOf(out.Position) {
		t.Fatalf("live after the resume: %s, want %s", p.id, idOf(out.Position))
	}
}

// TestStreamsEndWithTheService: a stopped service's desktops are not left
// connected to a view nothing feeds any more; they reconnect elsewhere.
func TestStreamsEndWithTheService(t *testing.T) {
	env := servicetest.New(t)
	r := startReplica(t, env, Config{}, nil)
	c := listen(t, r.srv, "a1", "")
	receive(t, c) // snapshot
	r.halt()
	select {
	case _, open := <-c:
		if open {
			t.Fatal("pushed after the service stopped")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open 5s after the service stopped")
	}
}

// TestLongGapResumesWithASnapshot: a desktop away for longer than a
// catch-up replays gets the current state instead of the whole gap.
func TestLongGapResumesWithASnapshot(t *testing.T) {
	env := servicetest.New(t)
	r := startReplica(t, env, Config{}, nil)
	r.s.maxCatchUp = 5
	loginAs(t, r, "a1")
	folded(t, r)
	seen := receive(t, listen(t, r.srv, "a1", "")).id
	var last eventstore.Position
	for n := range 20 {
		out, err := r.s.onAgent(t.Context(), "a1", eventstoreCause(), agent.SetState{Agent: "a1", Channel: agent.WebCallback,
			State: agent.NotReady, Reason: fmt.Sprint("r", n), At: env.Clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		last = out.Position
	}
	folded(t, r)
	c := listen(t, r.srv, "a1", seen)
	for got := 1; ; got++ {
		p := receive(t, c)
		if p.id != idOf(last) {
			continue
		}
		var v agentView
		if err := json.Unmarshal([]byte(p.data), &v); err != nil || p.name != "state" || v.Channels["webcallback"].Reason != "r19" {
			t.Fatalf("resumed at %s with %s %s", p.id, p.name, p.data)
		}
		if got > 6 {
			t.Fatalf("%d events to close a gap of 20 with a catch-up of 5", got)
		}
		return
	}
}
