package mediagateway_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	mediagateway "github.com/ringback/ringback/services/media-gateway"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

// TestLostRingingCallIsCancelled: an instance dies while the agents'
// phones ring for its calls; the instance that takes over cancels each
// ringing INVITE from the record of it (CANCEL built by hand), so the
// phones stop ringing, and records the attempts failed.
func TestLostRingingCallIsCancelled(t *testing.T) {
	env := newEnv(t)
	agent, trunk := startRingingPhone(t), startPhone(t)
	longRing := func(c *mediagateway.Config) { c.AgentRingTimeout = time.Minute }
	longSIPRing := func(c *sip.Config) { c.AgentRingTimeout = time.Minute }
	a := startGateway(t, env, "gw-a", trunk.Addr, testTTL, longRing, longSIPRing)
	b := startGateway(t, env, "gw-b", trunk.Addr, testTTL, longRing, longSIPRing)
	waitReady(t, env, a, b)
	env.Relay()

	const n = 6
	for i := range n {
		env.AppendAs(fmt.Sprintf("agent-interaction-i%d", i), eventstore.Cause{ID: fmt.Sprintf("dial-%d", i)}, dialRequest(i, agent))
	}
	owners := map[string][]string{}
	for _, id := range callIDs(n) {
		waitFor(t, 10*time.Second, "agent's phone ringing for "+id, func() bool {
			r, ok := has[*mediav1.AgentRinging](events(t, env, "media-call-"+id))
			return ok && r.AgentLeg.GetEarly()
		})
		started, _ := has[*mediav1.DialStarted](events(t, env, "media-call-"+id))
		owners[started.Instance] = append(owners[started.Instance], id)
	}
	victim := "gw-b"
	if len(owners["gw-a"]) > len(owners["gw-b"]) {
		victim = "gw-a"
	}
	gws := map[string]*gateway{"gw-a": a, "gw-b": b}
	killed := time.Now()
	gws[victim].crash()
	for _, id := range owners[victim] {
		waitFor(t, 5*testTTL, "lost ringing call "+id+" cancelled", func() bool {
			failed, ok := has[*mediav1.DialFailed](events(t, env, "media-call-"+id))
			return ok && failed.Reason == mediagateway.ReasonLost && agent.unrungOf(id) == 1
		})
	}
	t.Logf("takeover: %d ringing calls of %s cancelled %v after the kill (ttl %v)", len(owners[victim]), victim,
		time.Since(killed).Round(time.Millisecond), testTTL)
	for instance, ids := range owners {
		for _, id := range ids {
			if instance != victim && agent.unrungOf(id) != 0 {
				t.Errorf("the survivor's ringing call %s was cancelled", id)
			}
			if trunk.invitesOf(id) != 0 {
				t.Errorf("call %s reached the trunk while the agent's phone rang", id)
			}
		}
	}
}

// TestLostCallAnsweredAsItsOwnerDied: the agents' phones answer just after
// the instance placing the calls died, so the answers reach nobody and are
// in no record; the instance taking over cancels, ACKs and sends BYE on the
// dialogs the phones' ringing opened, which ends the answered calls too.
func TestLostCallAnsweredAsItsOwnerDied(t *testing.T) {
	env := newEnv(t)
	agent, trunk := startSlowPhone(t, time.Second), startPhone(t)
	a := startGateway(t, env, "gw-a", trunk.Addr, testTTL, nil)
	waitReady(t, env, a)
	env.Relay()

	const n = 3
	for i := range n {
		env.AppendAs(fmt.Sprintf("agent-interaction-i%d", i), eventstore.Cause{ID: fmt.Sprintf("dial-%d", i)}, dialRequest(i, agent))
	}
	for _, id := range callIDs(n) {
		waitFor(t, 10*time.Second, "agent's phone ringing for "+id, func() bool {
			_, ok := has[*mediav1.AgentRinging](events(t, env, "media-call-"+id))
			return ok
		})
	}
	a.crash() // the phones answer a second after they began to ring: to nobody
	b := startGateway(t, env, "gw-b", trunk.Addr, testTTL, nil)
	for _, id := range callIDs(n) {
		waitFor(t, 5*testTTL, "call "+id+" answered by its phone after the kill, then hung up", func() bool {
			_, failed := has[*mediav1.DialFailed](events(t, env, "media-call-"+id))
			return failed && agent.byesOf(id) == 1
		})
		if _, ok := has[*mediav1.AgentAnswered](events(t, env, "media-call-"+id)); ok {
			t.Errorf("call %s: the answer was recorded; the test wants it lost with its owner", id)
		}
		if trunk.invitesOf(id) != 0 {
			t.Errorf("call %s reached the trunk", id)
		}
	}
	_ = b
}
