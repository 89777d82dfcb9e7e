package mediagateway_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/diago"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/ringback/ringback/libs/eventstore"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

// TestRegistrationFoundFromAnyInstance: a phone registers with one gateway
// instance; the registration is an event, and the other instance finds it
// too, so a call for "registered:<agent>" rings the phone whichever
// instance places it; unregistering is seen everywhere alike.
func TestRegistrationFoundFromAnyInstance(t *testing.T) {
	env := newEnv(t)
	agent, trunk := startPhone(t), startPhone(t)
	accounts := func(c *sip.Config) { c.Accounts = map[string]sip.Account{"a1": {Password: "secret-a1"}} }
	a := startGateway(t, env, "gw-a", trunk.Addr, testTTL, nil, accounts)
	b := startGateway(t, env, "gw-b", trunk.Addr, testTTL, nil, accounts)
	waitReady(t, env, a, b)
	env.Relay()

	host, portStr, _ := net.SplitHostPort(a.sip.Addr())
	port, _ := strconv.Atoi(portStr)
	ctx := context.Background()
	reg, err := agent.dg.RegisterTransaction(ctx, sipgosip.Uri{Scheme: "sip", User: "a1", Host: host, Port: port},
		diago.RegisterOptions{Username: "a1", Password: "secret-a1", Expiry: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(ctx); err != nil {
		t.Fatalf("register with gw-a: %v", err)
	}
	waitFor(t, 5*time.Second, "gw-b finds the phone registered with gw-a", func() bool {
		c, ok := b.sip.Registered("a1")
		return ok && strings.Contains(c, "@"+agent.Addr)
	})
	registered, ok := has[*mediav1.PhoneRegistered](events(t, env, "media-registration-a1"))
	if !ok || registered.Instance != "gw-a" || !registered.ExpiresAt.AsTime().After(time.Now()) {
		t.Fatalf("registration event %+v, want one taken by gw-a, not expired", registered)
	}

	const n = 6
	owners := map[string]int{}
	for i := range n {
		env.AppendAs(fmt.Sprintf("agent-interaction-r%d", i), eventstore.Cause{ID: fmt.Sprintf("dial-r%d", i)},
			&agentv1.DialRequested{CallId: fmt.Sprintf("r%d", i), InteractionId: fmt.Sprintf("r%d", i), AgentId: "a1",
				AgentPhoneUri: sip.RegisteredPrefix + "a1", PhoneNumber: contactNumber})
	}
	for i := range n {
		id := fmt.Sprintf("r%d", i)
		waitFor(t, 15*time.Second, "call "+id+" connected", func() bool {
			evs := events(t, env, "media-call-"+id)
			if f, ok := has[*mediav1.DialFailed](evs); ok {
				t.Fatalf("call %s failed: %s", id, f.Reason)
			}
			_, ok := has[*mediav1.CallConnected](evs)
			return ok
		})
		started, _ := has[*mediav1.DialStarted](events(t, env, "media-call-"+id))
		owners[started.Instance]++
		env.AppendAs("agent-interaction-"+id, eventstore.Cause{ID: "hangup-" + id}, &agentv1.HangupRequested{CallId: id})
	}
	t.Logf("calls to the registered phone placed by: %v", owners)

	if err := reg.Unregister(ctx); err != nil {
		t.Fatalf("unregister: %v", err)
	}
	waitFor(t, 5*time.Second, "gw-b sees the phone unregistered", func() bool {
		_, ok := b.sip.Registered("a1")
		return !ok
	})

	// Now a call for the phone fails as not registered (issue 15), which
	// the agent reads as such, not as a phone that did not answer.
	env.AppendAs("agent-interaction-unreg", eventstore.Cause{ID: "dial-unreg"}, &agentv1.DialRequested{CallId: "unreg",
		InteractionId: "unreg", AgentId: "a1", AgentPhoneUri: sip.RegisteredPrefix + "a1", PhoneNumber: contactNumber})
	var failed *mediav1.DialFailed
	waitFor(t, 15*time.Second, "the call to the unregistered phone failed", func() bool {
		var ok bool
		failed, ok = has[*mediav1.DialFailed](events(t, env, "media-call-unreg"))
		return ok
	})
	if failed.Outcome != mediav1.Outcome_OUTCOME_AGENT_NOT_REGISTERED || failed.Reason != sip.ReasonNotRegistered {
		t.Fatalf("dial failed with %s %q, want OUTCOME_AGENT_NOT_REGISTERED %q", failed.Outcome, failed.Reason, sip.ReasonNotRegistered)
	}
}
