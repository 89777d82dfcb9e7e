package mediagateway_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	mediagateway "github.com/ringback/ringback/services/media-gateway"
)

// TestDrainOnStop: a gateway told to stop (SIGTERM) is not ready at once
// and takes no new call (the others dial them), lets its calls go on and
// still carries out requests for them (forwarded by the other instance),
// hangs up what is left when the grace period is over, and releases its
// lease.
func TestDrainOnStop(t *testing.T) {
	const grace = 2 * time.Second
	env := newEnv(t)
	agent, trunk := startPhone(t), startPhone(t)
	a := startGateway(t, env, "gw-a", trunk.Addr, testTTL, nil)
	b := startGateway(t, env, "gw-b", trunk.Addr, testTTL, func(c *mediagateway.Config) { c.DrainGrace = grace })
	waitReady(t, env, a, b)
	env.Relay()

	dial := func(from, to int) map[string][]string {
		for i := from; i < to; i++ {
			env.AppendAs(fmt.Sprintf("agent-interaction-i%d", i), eventstore.Cause{ID: fmt.Sprintf("dial-%d", i)}, dialRequest(i, agent))
		}
		owners := map[string][]string{}
		for i := from; i < to; i++ {
			id := fmt.Sprintf("k%d", i)
			waitFor(t, 15*time.Second, "call "+id+" connected", func() bool {
				_, ok := has[*mediav1.CallConnected](events(t, env, "media-call-"+id))
				return ok
			})
			started, _ := has[*mediav1.DialStarted](events(t, env, "media-call-"+id))
			owners[started.Instance] = append(owners[started.Instance], id)
		}
		return owners
	}
	before := dial(0, 8)
	if len(before["gw-b"]) < 2 {
		t.Skipf("gw-b got %d of 8 calls; the test needs two", len(before["gw-b"]))
	}

	stopping := time.Now()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		b.stop()
	}()
	waitFor(t, time.Second, "gw-b not ready once stopping", func() bool { return b.svc.Ready() != nil })

	// New calls all go to gw-a.
	after := dial(8, 12)
	if len(after["gw-b"]) > 0 {
		t.Errorf("a draining gateway took new calls: %v", after["gw-b"])
	}
	// gw-b's calls are still up, and an End Call still reaches gw-b.
	first := before["gw-b"][0]
	if agent.byesOf(first) > 0 {
		t.Fatalf("gw-b's call %s hung up as the drain began", first)
	}
	env.AppendAs("agent-interaction-x", eventstore.Cause{ID: "hangup-" + first}, &agentv1.HangupRequested{CallId: first})
	waitFor(t, 5*time.Second, "End Call of "+first+" during the drain", func() bool {
		ended, ok := has[*mediav1.CallEnded](events(t, env, "media-call-"+first))
		return ok && ended.EndReason == mediav1.EndReason_END_REASON_HANGUP_REQUESTED && agent.byesOf(first) == 1 && trunk.byesOf(first) == 1
	})

	// The rest are hung up when the grace is over.
	select {
	case <-stopped:
	case <-time.After(grace + 20*time.Second):
		t.Fatal("gw-b did not stop after its grace period")
	}
	took := time.Since(stopping)
	t.Logf("gw-b drained and stopped in %v (grace %v)", took.Round(time.Millisecond), grace)
	if took < grace {
		t.Errorf("gw-b stopped after %v, before its grace period %v with calls up", took, grace)
	}
	for _, id := range before["gw-b"][1:] {
		ended, ok := has[*mediav1.CallEnded](events(t, env, "media-call-"+id))
		if !ok || ended.Reason != mediagateway.ReasonDrained || ended.EndReason != mediav1.EndReason_END_REASON_GATEWAY_STOPPED ||
			agent.byesOf(id) != 1 || trunk.byesOf(id) != 1 {
			t.Errorf("call %s after the drain: ended %v (%+v), BYEs %d/%d", id, ok, ended, agent.byesOf(id), trunk.byesOf(id))
		}
	}
	l, ok, now, err := env.Store.(eventstore.Leases).ReadLease(context.Background(), mediagateway.LeaseName("gw-b"))
	if err != nil || !ok || now.Before(l.Expires) {
		t.Errorf("gw-b's lease after the stop: %+v (now %v, err %v), want released", l, now, err)
	}
	// gw-a's calls are untouched.
	for _, id := range append(before["gw-a"], after["gw-a"]...) {
		if agent.byesOf(id) > 0 {
			t.Errorf("gw-a's call %s was hung up", id)
		}
	}
}
