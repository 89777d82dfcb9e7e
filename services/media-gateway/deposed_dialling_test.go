package mediagateway_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	mediagateway "github.com/ringback/ringback/services/media-gateway"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

// TestDeposedWhileDiallingStops: an instance deposed while its call's
// INVITE to the agent is out and unanswered (it stopped renewing its lease;
// the other took its calls over and wrote this one lost, with no leg on
// record to hang up) does not go on when the phone then rings and answers:
// it could record nothing of the answer, so once it is gone no survivor
// would know to hang the call up. It cancels the agent's INVITE at the
// first word from the phone and never dials the contact.
func TestDeposedWhileDiallingStops(t *testing.T) {
	const ttl, silent, answerAfter = testTTL, 6 * time.Second, time.Second
	env := newEnv(t)
	agent, trunk := startSlowPhone(t, answerAfter), startPhone(t)
	agent.silentFor.Store(int64(silent))
	longRing := func(c *mediagateway.Config) { c.AgentRingTimeout = 30 * time.Second }
	longRingSIP := func(c *sip.Config) { c.AgentRingTimeout = 30 * time.Second }
	gws := map[string]*gateway{
		"gw-a": startGateway(t, env, "gw-a", trunk.Addr, ttl, longRing, longRingSIP),
		"gw-b": startGateway(t, env, "gw-b", trunk.Addr, ttl, longRing, longRingSIP),
	}
	waitReady(t, env, gws["gw-a"], gws["gw-b"])
	env.Relay()
	evs := func() []proto.Message { return events(t, env, "media-call-k0") }

	dialled := time.Now()
	env.AppendAs("agent-interaction-i0", eventstore.Cause{ID: "dial-0"}, dialRequest(0, agent))
	var owner *gateway
	waitFor(t, 5*time.Second, "call k0 dialling the agent", func() bool {
		if started, ok := has[*mediav1.DialStarted](evs()); ok && agent.invitesOf("k0") == 1 {
			owner = gws[started.Instance]
		}
		return owner != nil
	})
	owner.svc.PauseHeartbeat(true)
	waitFor(t, silent-time.Since(dialled)-500*time.Millisecond, "call k0 taken over before the agent's phone rings", func() bool {
		_, lost := has[*mediav1.CallLost](evs())
		return lost
	})

	// The phone rings at 6 s and would answer at 7 s.
	time.Sleep(time.Until(dialled.Add(silent + answerAfter + 2*time.Second)))
	if n := trunk.invitesOf("k0"); n != 0 {
		t.Errorf("the contact was dialled %d times by an instance that had lost the call", n)
	}
	if _, ok := has[*mediav1.AgentAnswered](evs()); ok {
		t.Error("an answer was recorded for a call already lost")
	}

	owner.deposed = true // its Run fails with ErrLeaseLost once woken
	owner.svc.PauseHeartbeat(false)
}
