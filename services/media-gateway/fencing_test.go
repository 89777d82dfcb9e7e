package mediagateway_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
)

// dialAll asks for calls from..to-1 and waits until each is connected; it
// returns them by owner.
func dialAll(t *testing.T, env interface {
	AppendAs(string, eventstore.Cause, ...proto.Message)
}, evs func(string) []proto.Message, agent *phone, from, to int) map[string][]string {
	t.Helper()
	for i := from; i < to; i++ {
		env.AppendAs(fmt.Sprintf("agent-interaction-i%d", i), eventstore.Cause{ID: fmt.Sprintf("dial-%d", i)}, dialRequest(i, agent))
	}
	owners := map[string][]string{}
	for i := from; i < to; i++ {
		id := fmt.Sprintf("k%d", i)
		waitFor(t, 15*time.Second, "call "+id+" connected", func() bool {
			_, ok := has[*mediav1.CallConnected](evs("media-call-" + id))
			return ok
		})
		started, _ := has[*mediav1.DialStarted](evs("media-call-" + id))
		owners[started.Instance] = append(owners[started.Instance], id)
	}
	return owners
}

// TestDeposedGatewayIsFencedOff: an instance that stops renewing its lease
// while alive (a long pause) is deposed: the other hangs its calls up, the
// store refuses the deposed instance's writes from then on, and once it
// wakes it finds its lease lost and stops.
func TestDeposedGatewayIsFencedOff(t *testing.T) {
	const ttl = testTTL
	env := newEnv(t)
	agent, trunk := startPhone(t), startPhone(t)
	a := startGateway(t, env, "gw-a", trunk.Addr, ttl, nil)
	b := startGateway(t, env, "gw-b", trunk.Addr, ttl, nil)
	waitReady(t, env, a, b)
	env.Relay()
	evs := func(stream string) []proto.Message { return events(t, env, stream) }
	owners := dialAll(t, env, evs, agent, 0, 8)
	if len(owners["gw-b"]) == 0 {
		t.Skip("gw-b placed no call")
	}

	paused := time.Now()
	b.svc.PauseHeartbeat(true)
	for _, id := range owners["gw-b"] {
		waitFor(t, 10*ttl, "gw-b's call "+id+" taken over", func() bool {
			lost, ok := has[*mediav1.CallLost](evs("media-call-" + id))
			return ok && lost.TakenOverBy == "gw-a" && agent.byesOf(id) == 1 && trunk.byesOf(id) == 1
		})
	}
	t.Logf("gw-b's %d calls hung up by gw-a %v after gw-b stopped renewing (ttl %v)", len(owners["gw-b"]),
		time.Since(paused).Round(time.Millisecond), ttl)

	// The deposed instance's writes are refused.
	id := owners["gw-b"][0]
	recs, err := env.Store.ReadStream(context.Background(), "media-call-"+id, 0)
	if err != nil {
		t.Fatal(err)
	}
	data, err := eventstore.Encode(context.Background(), "media-call-"+id, eventstore.Cause{ID: "late-write"},
		[]proto.Message{&mediav1.CallHeld{CallId: id, Held: true}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.Store.Append(b.svc.Fenced(context.Background()), "media-call-"+id, eventstore.Exactly(recs[len(recs)-1].Revision), data...)
	if !errors.Is(err, eventstore.ErrFenced) {
		t.Errorf("a write of the deposed gw-b: %v, want ErrFenced", err)
	}

	// Woken, it finds its lease lost and stops.
	b.deposed = true
	b.svc.PauseHeartbeat(false)
	select {
	case <-b.svcExited:
	case <-time.After(5 * ttl):
		t.Fatal("the deposed gw-b did not stop")
	}
	if !errors.Is(b.svcErr, eventstore.ErrLeaseLost) {
		t.Errorf("deposed gw-b's Run: %v, want ErrLeaseLost", b.svcErr)
	}
	for _, id := range owners["gw-b"] {
		if n := count[*mediav1.CallEnded](evs("media-call-" + id)); n != 1 {
			t.Errorf("call %s has %d CallEnded, want 1", id, n)
		}
	}
	for _, id := range owners["gw-a"] {
		if agent.byesOf(id) != 0 {
			t.Errorf("gw-a's call %s was hung up", id)
		}
	}
}

// TestRestartUnderTheSameIDHangsUpTheOldCalls: one gateway (single node)
// killed and started again: under the same instance id it waits for its
// old lease and takes it with a newer generation, under a new id it takes
// the old one's over once expired; either way it hangs up the calls of the
// previous process with BYEs, once, and takes new calls.
func TestRestartUnderTheSameIDHangsUpTheOldCalls(t *testing.T) {
	// Under the same id (a StatefulSet pod), and under a new random one
	// (single node, the default): either way the old calls get their BYEs.
	for _, id := range []string{"gw-1", "gw-2"} {
		t.Run(id, func(t *testing.T) { testRestart(t, id) })
	}
}

func testRestart(t *testing.T, newID string) {
	const ttl = testTTL
	env := newEnv(t)
	agent, trunk := startPhone(t), startPhone(t)
	old := startGateway(t, env, "gw-1", trunk.Addr, ttl, nil)
	waitReady(t, env, old)
	env.Relay()
	evs := func(stream string) []proto.Message { return events(t, env, stream) }
	owners := dialAll(t, env, evs, agent, 0, 4)

	killed := time.Now()
	old.crash()
	restarted := startGateway(t, env, newID, trunk.Addr, ttl, nil)
	for _, id := range owners["gw-1"] {
		waitFor(t, 10*ttl, "old call "+id+" hung up", func() bool {
			_, ended := has[*mediav1.CallEnded](evs("media-call-" + id))
			return ended && agent.byesOf(id) == 1 && trunk.byesOf(id) == 1
		})
	}
	t.Logf("restart: the previous run's %d calls got their BYEs %v after the kill (ttl %v)", len(owners["gw-1"]),
		time.Since(killed).Round(time.Millisecond), ttl)
	waitFor(t, 5*time.Second, "restarted gateway ready", func() bool { return restarted.svc.Ready() == nil })

	// And it places new calls.
	dialAll(t, env, evs, agent, 4, 6)
	for _, id := range callIDs(6) {
		if agent.invitesOf(id) != 1 || trunk.invitesOf(id) != 1 {
			t.Errorf("call %s: %d/%d INVITEs, want 1 each", id, agent.invitesOf(id), trunk.invitesOf(id))
		}
	}
}
