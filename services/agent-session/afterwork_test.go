package agentsession

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/agent-session/agent"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// afterDone counts what an agent's stream holds after its last After Call
// Work began: whether it began with its end stored, and the Readys since.
func afterDone(t *testing.T, env *servicetest.Env, id string) (stored bool, readys int) {
	t.Helper()
	for _, m := range env.Events(agent.Stream(id)) {
		sc, ok := m.(*agentv1.AgentStateChanged)
		if !ok || sc.Channel != agent.WebCallback {
			continue
		}
		switch sc.State {
		case agent.AfterCallWork:
			stored, readys = sc.Until != nil, 0
		case agent.Ready:
			readys++
		}
	}
	return stored, readys
}

func loginAs(t *testing.T, r *replica, id string) {
	t.Helper()
	ctx := t.Context()
	if _, err := r.s.onAgent(ctx, id, eventstoreCause(), agent.Login{Agent: id, PhoneURI: "sip:" + id + "@10.0.0.1", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// TestAfterCallWorkEndsAfterARestart (issue 10): the process that put the
// agent in After Call Work stops; the end falls due while nothing runs; the
// next instance ends it, once.
func TestAfterCallWorkEndsAfterARestart(t *testing.T) {
	env := servicetest.New(t)
	cfg := Config{AfterCallWork: 30 * time.Second}
	a := startReplica(t, env, cfg, nil)
	loginAs(t, a, "a1")
	if err := a.s.afterCallWork(t.Context(), interaction.State{ID: uuid.NewString(), CallbackID: "cb", Agent: "a1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a's loop arms the end", func() bool { return len(a.s.view.inAfterCallWork()) == 1 && env.Clock.Waiters() > 0 })
	a.stop()

	env.Clock.Advance(time.Hour)
	if stored, readys := afterDone(t, env, "a1"); !stored || readys != 0 {
		t.Fatalf("with no instance running: end stored %v, %d Ready", stored, readys)
	}
	b := startReplica(t, env, cfg, nil)
	waitFor(t, "b ends after call work", func() bool { _, n := afterDone(t, env, "a1"); return n > 0 })
	waitFor(t, "b's view folds it", func() bool { return len(b.s.view.inAfterCallWork()) == 0 })
	time.Sleep(50 * time.Millisecond) // room for a second write, were there one
	if _, readys := afterDone(t, env, "a1"); readys != 1 {
		t.Fatalf("%d Ready events, want 1", readys)
	}
}

// TestTwoReplicasEndAfterCallWorkOnce: every replica runs the loop; when
// the end falls due they race, and each agent gets one Ready.
func TestTwoReplicasEndAfterCallWorkOnce(t *testing.T) {
	const agents = 20
	env := servicetest.New(t)
	cfg := Config{AfterCallWork: 30 * time.Second}
	a, b := startReplica(t, env, cfg, nil), startReplica(t, env, cfg, nil)
	for i := range agents {
		id := fmt.Sprint("a", i)
		loginAs(t, a, id)
		if err := b.s.afterCallWork(t.Context(), interaction.State{ID: uuid.NewString(), Agent: id}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "both loops arm the end", func() bool {
		return len(a.s.view.inAfterCallWork()) == agents && len(b.s.view.inAfterCallWork()) == agents && env.Clock.Waiters() >= 2
	})
	env.Clock.Advance(29 * time.Second)
	time.Sleep(20 * time.Millisecond)
	if _, readys := afterDone(t, env, "a0"); readys != 0 {
		t.Fatal("ended before its time")
	}
	env.Clock.Advance(time.Second)
	waitFor(t, "both views fold the ends", func() bool {
		return len(a.s.view.inAfterCallWork()) == 0 && len(b.s.view.inAfterCallWork()) == 0
	})
	time.Sleep(50 * time.Millisecond)
	for i := range agents {
		if _, readys := afterDone(t, env, fmt.Sprint("a", i)); readys != 1 {
			t.Fatalf("a%d: %d Ready events, want 1", i, readys)
		}
	}
}

// TestAutoAnswerAfterARestart: the countdown is stored with the offer, so
// an instance started after it ran out accepts, once.
func TestAutoAnswerAfterARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agents.json")
	if err := os.WriteFile(path, []byte(agentsJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	env := servicetest.New(t)
	cfg := Config{AgentsFile: path}
	a := startReplica(t, env, cfg, nil)
	env.Relay(Topics...)
	loginAs(t, a, "auto")
	iid := uuid.NewString()
	env.Append("router-interaction-"+iid, "offer-"+iid, &routingv1.InteractionOffered{InteractionId: iid, CallbackId: "cb-" + iid,
		AgentId: "auto", OfferId: iid + ":1", OfferedAt: timestamppb.New(servicetest.Start),
		ExpiresAt: timestamppb.New(servicetest.Start.Add(15 * time.Second)), QueuedAt: timestamppb.New(servicetest.Start)})
	servicetest.WaitEvent[*agentv1.InteractionPresented](env, interaction.Stream(iid))
	waitFor(t, "a's countdown armed", func() bool { return len(a.s.view.autoAnswers()) == 1 && env.Clock.Waiters() > 0 })
	a.stop()
	env.Clock.Advance(10 * time.Second)
	b := startReplica(t, env, cfg, nil)
	servicetest.WaitEvent[*agentv1.AcceptRequested](env, interaction.Stream(iid))
	waitFor(t, "b folds the accept", func() bool { return len(b.s.view.autoAnswers()) == 0 })
	n := 0
	for _, m := range env.Events(interaction.Stream(iid)) {
		if _, ok := m.(*agentv1.AcceptRequested); ok {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d accepts, want 1", n)
	}
}

// TestDoneWithoutAfterCallWorkIsCompleted: the process that stored Done
// died before it put the agent in After Call Work; another instance does,
// and then ends it: the agent is not left Busy.
func TestDoneWithoutAfterCallWorkIsCompleted(t *testing.T) {
	env := servicetest.New(t)
	doneWithoutAfterCallWork(env)
	r := startReplica(t, env, Config{AfterCallWork: 30 * time.Second}, nil)
	waitFor(t, "the loop waits out the Done handler's grace", func() bool { return env.Clock.Waiters() > 0 })
	if stored, _ := afterDone(t, env, "a1"); stored {
		t.Fatal("after call work before the grace")
	}
	env.Clock.Advance(doneGrace)
	waitFor(t, "after call work stored", func() bool { stored, _ := afterDone(t, env, "a1"); return stored })
	waitFor(t, "its end armed", func() bool {
		return len(r.s.view.inAfterCallWork()) == 1 && len(r.s.view.finishedWithoutAfterCallWork()) == 0
	})
	env.Clock.Advance(30 * time.Second)
	waitFor(t, "ready again", func() bool { _, n := afterDone(t, env, "a1"); return n == 1 })
	if a, _ := r.s.view.agent("a1"); a.Channels[agent.WebCallback].State == agent.Busy {
		t.Fatal("agent left Busy")
	}
}

// TestOldDoneIsLeftAlone: a Done from long ago without After Call Work
// (refused then) does not put today's agent in After Call Work.
func TestOldDoneIsLeftAlone(t *testing.T) {
	env := servicetest.New(t)
	doneWithoutAfterCallWork(env)
	env.Clock.Advance(doneHorizon + time.Minute)
	r := startReplica(t, env, Config{AfterCallWork: 30 * time.Second}, nil)
	waitFor(t, "the loop looks at it", func() bool { return len(r.s.view.finishedWithoutAfterCallWork()) == 0 })
	if stored, _ := afterDone(t, env, "a1"); stored {
		t.Fatal("after call work for a Done of long ago")
	}
}

// doneWithoutAfterCallWork stores what a Done handler whose process died
// before the After Call Work leaves: a1 Busy, their interaction Done.
func doneWithoutAfterCallWork(env *servicetest.Env) {
	iid := uuid.NewString()
	at := timestamppb.New(servicetest.Start)
	env.Append(agent.Stream("a1"), "login", &agentv1.AgentLoggedIn{AgentId: "a1", At: at},
		&agentv1.AgentStateChanged{AgentId: "a1", Channel: agent.WebCallback, State: agent.Busy, Reason: "Handling a web callback", At: at})
	env.Append(interaction.Stream(iid), "handled", &agentv1.InteractionPresented{InteractionId: iid, CallbackId: "cb", AgentId: "a1",
		OfferId: iid + ":1", At: at, ExpiresAt: timestamppb.New(servicetest.Start.Add(time.Minute))},
		&agentv1.InteractionAccepted{InteractionId: iid, AgentId: "a1", At: at},
		&agentv1.InteractionDone{InteractionId: iid, CallbackId: "cb", AgentId: "a1", At: at})
}
