package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/bus/kafka/kafkatest"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/postgres"
	"github.com/ringback/ringback/libs/eventstore/postgres/pgtest"
	"github.com/ringback/ringback/libs/siptest"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
)

// TestTwoGatewayProcessesOnPostgreSQL: every service in its own process on
// one PostgreSQL store and a Kafka broker, the media gateway twice. Agents
// call their contacts (sipp plays the agents' phones and the trunk); the
// calls spread over both gateways. One gateway is killed with SIGKILL: the
// other takes its lease over once it expired and sends BYE on both legs of
// each of its calls (counted at sipp, by the legs' SIP Call-IDs recorded in
// the calls' events); each of those agents sees the call lost. No attempt
// was dialled twice.
func TestTwoGatewayProcessesOnPostgreSQL(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: eight processes")
	}
	siptest.Sipp(t)
	db := pgtest.Database(t)
	store, err := postgres.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, ok := any(store).(eventstore.Leases); !ok {
		t.Skip("postgres.Store grants no leases yet: the gateway needs them")
	}
	brokers := strings.Join(kafkatest.StartBroker(t), ",")
	phones := siptest.StartUAS(t, siptest.Answer)
	trunk := siptest.StartUAS(t, siptest.Answer)
	rs := &replicaSet{t: t, procs: map[string][]*proc{},
		args: []string{"--bus", "kafka", "--kafka-brokers", brokers, "--eventstore", db}}
	for _, s := range []string{"intake", "scheduler", "router", "agent-session", "history", "disposition"} {
		rs.start(s)
	}
	const ttl = 2 * time.Second
	gateway := func(id string) *proc {
		return rs.start("media-gateway", "--sip", freePort(t, "udp"), "--sip-trunk", trunk.Addr, "--media.trunk-keepalive", "0",
			"--media.instance-id", id, "--media.lease-ttl", ttl.String(), "--media.drain-grace", "1s")
	}
	gws := map[string]*proc{"gw-a": gateway("gw-a"), "gw-b": gateway("gw-b")}
	a := api{t: t, route: func(method, path string) string { return rs.live(owner(method, path))[0].URL }}

	const n = 8
	type placed struct {
		agent, ix string
		pushed    *stream
		seen      int
	}
	calls := make([]*placed, n)
	// One agent Ready at a time (the others are busy with their call), so
	// that each callback is offered to the agent waiting for it.
	for i := range calls {
		agent := fmt.Sprintf("gwagent%d", i)
		if r := a.do("POST", "/v1/agents/"+agent+"/session", map[string]string{"phone_uri": "sip:" + agent + "@" + phones.Addr}); r.Status != 200 {
			t.Fatalf("login: %d %s", r.Status, r.Body)
		}
		if r := a.do("PUT", "/v1/agents/"+agent+"/state", map[string]string{"channel": "webcallback", "state": "READY"}); r.Status != 200 {
			t.Fatalf("ready: %d %s", r.Status, r.Body)
		}
		c := &placed{agent: agent, pushed: a.events(agent)}
		calls[i] = c
		r := a.do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": fmt.Sprintf("+442079460%03d", 100+i),
			"subject": "Gateway replicas"})
		if r.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		offer := c.pushed.waitFor(t, &c.seen, "offer", func(e sseEvent) bool { return e.Name == "offer" })
		var v interactionView
		if err := json.Unmarshal(offer.Data, &v); err != nil {
			t.Fatal(err)
		}
		c.ix = v.ID
		if r := a.do("POST", "/v1/interactions/"+c.ix+"/accept", nil); r.Status != 200 {
			t.Fatalf("accept: %d %s", r.Status, r.Body)
		}
		if r := a.do("POST", "/v1/interactions/"+c.ix+"/call", nil); r.Status != 200 {
			t.Fatalf("call %d: %d %s", i, r.Status, r.Body)
		}
	}
	status := func(ix, want string) func(sseEvent) bool {
		return func(e sseEvent) bool {
			var s interactionView
			_ = json.Unmarshal(e.Data, &s)
			return e.Name == "interaction" && s.ID == ix && s.Status == want
		}
	}
	for _, c := range calls {
		c.pushed.waitFor(t, &c.seen, "Connected", status(c.ix, "Connected"))
	}

	// Who owns which call, and the legs' SIP Call-IDs, from the store.
	type owned struct{ instance, interaction, agentLeg, contactLeg string }
	byCall := map[string]owned{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	head, err := store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = store.SubscribeAll(ctx, eventstore.Position{}, func(_ context.Context, r eventstore.RecordedEvent) error {
		if strings.HasPrefix(r.Stream, "media-call-") {
			m, err := eventstore.Decode(r)
			if err == nil {
				o := byCall[r.Stream]
				switch e := m.(type) {
				case *mediav1.DialStarted:
					o.instance, o.interaction = e.Instance, e.InteractionId
				case *mediav1.CallConnected:
					o.agentLeg, o.contactLeg = e.GetAgentLeg().GetCallId(), e.GetContactLeg().GetCallId()
				}
				byCall[r.Stream] = o
			}
		}
		if !r.Position.Less(head) {
			cancel()
		}
		return nil
	})
	perGateway := map[string][]owned{}
	for _, o := range byCall {
		perGateway[o.instance] = append(perGateway[o.instance], o)
	}
	t.Logf("calls by gateway: gw-a %d, gw-b %d", len(perGateway["gw-a"]), len(perGateway["gw-b"]))
	victim := "gw-a"
	if len(perGateway["gw-b"]) > len(perGateway["gw-a"]) {
		victim = "gw-b"
	}

	killed := time.Now()
	gws[victim].kill9(t)
	byesFor := func(u *siptest.UAS, callID string) bool {
		ms, _ := u.Received("BYE")
		for _, m := range ms {
			if m.CallID == callID {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(4*ttl + 20*time.Second)
	for _, o := range perGateway[victim] {
		for !byesFor(phones, o.agentLeg) || !byesFor(trunk, o.contactLeg) {
			if time.Now().After(deadline) {
				t.Fatalf("%s's call (agent leg %s, contact leg %s) not hung up within %v of the kill", victim, o.agentLeg, o.contactLeg,
					4*ttl+20*time.Second)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("takeover: the %d calls of the killed %s got BYE on both legs %v after SIGKILL (lease ttl %v)",
		len(perGateway[victim]), victim, time.Since(killed).Round(time.Millisecond), ttl)
	// Recorded lost, by the survivor, with the legs whose BYE was answered.
	for stream, o := range byCall {
		if o.instance != victim {
			continue
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			recs, err := store.ReadStream(context.Background(), stream, 0)
			if err != nil {
				t.Fatal(err)
			}
			var lost *mediav1.CallLost
			for _, r := range recs {
				if m, err := eventstore.Decode(r); err == nil {
					if l, ok := m.(*mediav1.CallLost); ok {
						lost = l
					}
				}
			}
			if lost != nil {
				if lost.Owner != victim || lost.TakenOverBy == victim || strings.Join(lost.LegsHungUp, ",") != "agent,contact" {
					t.Errorf("%s: CallLost %+v, want %s's call hung up by the other on both legs", stream, lost, victim)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no CallLost within 20s", stream)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Their agents see the call lost, the others are still connected;
	// every attempt was dialled once.
	for instance, os := range perGateway {
		for _, o := range os {
			want := "Connected"
			if instance == victim {
				want = "Ready to Call"
			}
			var v interactionView
			a.eventually("/v1/interactions/"+o.interaction, &v, "interaction "+o.interaction+" "+want, func() bool {
				return v.Status == want
			})
			if instance == victim {
				t.Logf("%s's agent reads: %s", victim, v.Reason)
			}
		}
	}
	if invites, _ := trunk.Received("INVITE"); len(firstPer(invites)) != n {
		t.Errorf("the trunk got INVITEs in %d calls, want %d (one per attempt)", len(firstPer(invites)), n)
	}
	if invites, _ := phones.Received("INVITE"); len(firstPer(invites)) != n {
		t.Errorf("the agents' phones got INVITEs in %d calls, want %d", len(firstPer(invites)), n)
	}
}

// firstPer keeps one message per SIP Call-ID: a retransmission, or a
// re-INVITE, is not another call.
func firstPer(ms []siptest.Message) []siptest.Message {
	seen := map[string]bool{}
	var out []siptest.Message
	for _, m := range ms {
		if !seen[m.CallID] {
			seen[m.CallID] = true
			out = append(out, m)
		}
	}
	return out
}
