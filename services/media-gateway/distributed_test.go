package mediagateway_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/clock"
	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
	"github.com/ringback/ringback/libs/eventstore/postgres"
	"github.com/ringback/ringback/libs/eventstore/postgres/pgtest"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	mediagateway "github.com/ringback/ringback/services/media-gateway"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

// A London number the default dial plan allows.
const contactNumber = "+442071838750"

// gateway is one media gateway instance: its SIP adapter and its service,
// each run until stop (or crash).
type gateway struct {
	t        *testing.T
	id       string
	svc      *mediagateway.Service
	sip      *sip.Gateway
	stopSvc  context.CancelFunc
	stopSIP  context.CancelFunc
	sipDone  chan error
	crashed  bool
	stopped  bool
	registry *prometheus.Registry
	// svcErr is what the service's Run returned, once svcExited is closed.
	svcErr    error
	svcExited chan struct{}
	deposed   bool // Run is expected to fail: its lease was taken over
}

func startGateway(t *testing.T, env *servicetest.Env, id, trunk string, ttl time.Duration, mod func(*mediagateway.Config),
	sipMods ...func(*sip.Config)) *gateway {
	t.Helper()
	log := env.Log.With("instance", id)
	sc := sip.Config{Listen: "127.0.0.1:0", Trunk: trunk, CallerID: "ringback",
		AgentRingTimeout: 5 * time.Second, ContactRingTimeout: 5 * time.Second}
	for _, m := range sipMods {
		m(&sc)
	}
	gw, err := sip.New(sc, log)
	if err != nil {
		t.Fatal(err)
	}
	cfg := mediagateway.Config{Trunk: trunk, CallerID: "ringback", AgentRingTimeout: 5 * time.Second,
		ContactRingTimeout: 5 * time.Second, InstanceID: id, LeaseTTL: ttl, DrainGrace: 500 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	reg := prometheus.NewRegistry()
	svc, err := mediagateway.New(cfg, mediagateway.Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: clock.Real{}, Log: log, Metrics: reg}, Dialer: sip.Port{Gateway: gw}})
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{t: t, id: id, svc: svc, sip: gw, sipDone: make(chan error, 1), registry: reg}
	sipCtx, stopSIP := context.WithCancel(context.Background())
	svcCtx, stopSvc := context.WithCancel(context.Background())
	g.stopSIP, g.stopSvc = stopSIP, stopSvc
	g.svcExited = make(chan struct{})
	go func() { g.sipDone <- gw.Run(sipCtx) }()
	go func() {
		g.svcErr = svc.Run(svcCtx)
		close(g.svcExited)
	}()
	t.Cleanup(g.stop)
	return g
}

// stop stops the instance as SIGTERM does (the service drains, then the
// SIP stack stops).
func (g *gateway) stop() {
	if g.stopped {
		return
	}
	g.stopped = true
	// Both at once, as the binary does on SIGTERM: the SIP stack stays up
	// (Keep) until the service has drained.
	g.stopSvc()
	g.stopSIP()
	select {
	case <-g.svcExited:
		if g.svcErr != nil && !g.crashed && !g.deposed {
			g.t.Errorf("gateway %s: %v", g.id, g.svcErr)
		}
	case <-time.After(15 * time.Second):
		g.t.Errorf("gateway %s did not stop", g.id)
	}
	select {
	case err := <-g.sipDone:
		if err != nil && !g.crashed {
			g.t.Errorf("gateway %s SIP: %v", g.id, err)
		}
	case <-time.After(15 * time.Second):
		g.t.Errorf("gateway %s SIP did not stop", g.id)
	}
}

// crash is kill -9: no more heartbeat, no more writes, no SIP at all.
func (g *gateway) crash() {
	g.crashed = true
	// The service first: from now on it writes nothing, whatever the SIP
	// stack reports as it dies.
	g.svc.Crash()
	g.sip.Kill()
}

// newEnv is a service world on an embedded store whose clock is the real
// one, since leases expire by the store's clock.
func newEnv(t *testing.T) *servicetest.Env { return newEnvOn(t, "embedded") }

// newEnvOn is newEnv on the store named: "embedded", or "postgres" (a
// fresh database on the test server; skipped without one).
func newEnvOn(t *testing.T, kind string) *servicetest.Env {
	var st eventstore.Store
	switch kind {
	case "postgres":
		url := pgtest.Database(t)
		pg, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		st = pg
		if _, ok := st.(eventstore.Leases); !ok {
			_ = pg.Close()
			t.Skip("postgres.Store grants no leases yet")
		}
	default:
		em, err := embedded.Open(filepath.Join(t.TempDir(), "store"))
		if err != nil {
			t.Fatal(err)
		}
		st = em
	}
	t.Cleanup(func() { _ = st.Close() }) // after the services (cleanups run last first)
	env := servicetest.New(t)
	env.Store = st
	env.Log = slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return env
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func waitReady(t *testing.T, env *servicetest.Env, gws ...*gateway) {
	t.Helper()
	waitFor(t, 10*time.Second, "gateways ready", func() bool {
		for _, g := range gws {
			if g.svc.Ready() != nil {
				return false
			}
		}
		return env.Bus.Groups(envelope.TopicOf("agent")) > 0
	})
	time.Sleep(100 * time.Millisecond) // both subscribers of the group pulling
}

func dialRequest(i int, agent *phone) *agentv1.DialRequested {
	return &agentv1.DialRequested{CallId: fmt.Sprintf("k%d", i), InteractionId: fmt.Sprintf("i%d", i), AgentId: "a1",
		AgentPhoneUri: "sip:a1@" + agent.Addr, PhoneNumber: contactNumber, Service: "support"}
}

func events(t *testing.T, env *servicetest.Env, stream string) []proto.Message {
	t.Helper()
	recs, err := env.Store.ReadStream(context.Background(), stream, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []proto.Message
	for _, r := range recs {
		if m, err := eventstore.Decode(r); err == nil {
			out = append(out, m)
		}
	}
	return out
}

func has[T proto.Message](ms []proto.Message) (T, bool) {
	for _, m := range ms {
		if t, ok := m.(T); ok {
			return t, true
		}
	}
	var zero T
	return zero, false
}

func count[T proto.Message](ms []proto.Message) int {
	n := 0
	for _, m := range ms {
		if _, ok := m.(T); ok {
			n++
		}
	}
	return n
}

// TestTwoGatewaysShareCallsAndHangUpADeadOnesCalls: two gateway instances
// on one store and one consumer group. Calls spread over both; a hold
// reaches the instance that holds the call whichever took the request; a
// second DialRequested for an attempt dials nothing. Then one instance
// dies (kill -9: no heartbeat, no SIP): after its lease expires the other
// takes it over, sends BYE on both legs of each of its calls from the
// recorded dialogs, and records them lost and ended; the survivor's own
// calls go on.
func TestTwoGatewaysShareCallsAndHangUpADeadOnesCalls(t *testing.T) {
	for _, kind := range []string{"embedded", "postgres"} {
		t.Run(kind, func(t *testing.T) { testTwoGateways(t, kind) })
	}
}

func testTwoGateways(t *testing.T, kind string) {
	const (
		ttl = testTTL
	)
	env := newEnvOn(t, kind)
	agent, trunk := startPhone(t), startPhone(t)
	a := startGateway(t, env, "gw-a", trunk.Addr, ttl, nil)
	b := startGateway(t, env, "gw-b", trunk.Addr, ttl, nil)
	waitReady(t, env, a, b)
	env.Relay()

	// Calls in waves until both instances own some: the in-process bus
	// hands each message to whichever subscriber of the group asks first,
	// which spreads them, unevenly (Kafka spreads by partition).
	owners := map[string][]string{}
	n := 0
	for n < 12 || (len(owners["gw-a"]) == 0 || len(owners["gw-b"]) == 0) && n < 36 {
		for i := n; i < n+6; i++ {
			env.AppendAs(fmt.Sprintf("agent-interaction-i%d", i), eventstore.Cause{ID: fmt.Sprintf("dial-%d", i), Correlation: fmt.Sprintf("cb%d", i)},
				dialRequest(i, agent))
		}
		for i := n; i < n+6; i++ {
			id := fmt.Sprintf("k%d", i)
			waitFor(t, 15*time.Second, "call "+id+" connected", func() bool {
				_, ok := has[*mediav1.CallConnected](events(t, env, "media-call-"+id))
				return ok
			})
			started, _ := has[*mediav1.DialStarted](events(t, env, "media-call-"+id))
			if started.Generation == 0 || started.Holder == "" {
				t.Errorf("call %s: DialStarted without the owner's lease generation and holder", id)
			}
			owners[started.Instance] = append(owners[started.Instance], id)
		}
		n += 6
	}
	t.Logf("calls by owner: gw-a %d, gw-b %d", len(owners["gw-a"]), len(owners["gw-b"]))
	if len(owners["gw-a"]) == 0 || len(owners["gw-b"]) == 0 {
		t.Fatalf("%d calls did not spread over both instances: %v", n, owners)
	}

	// The same attempt asked again: nothing is dialled.
	env.AppendAs("agent-interaction-i0", eventstore.Cause{ID: "dial-0-again", Correlation: "cb0"}, dialRequest(0, agent))

	// Hold every call: each request goes to either instance.
	for i := range n {
		env.AppendAs(fmt.Sprintf("agent-interaction-i%d", i), eventstore.Cause{ID: fmt.Sprintf("hold-%d", i)},
			&agentv1.HoldRequested{CallId: fmt.Sprintf("k%d", i), InteractionId: fmt.Sprintf("i%d", i), Hold: true})
	}
	forwarded := 0
	for i := range n {
		id := fmt.Sprintf("k%d", i)
		waitFor(t, 10*time.Second, "call "+id+" held", func() bool {
			evs := events(t, env, "media-call-"+id)
			if f, ok := has[*mediav1.CallControlFailed](evs); ok {
				t.Fatalf("hold of %s failed: %s", id, f.Reason)
			}
			_, ok := has[*mediav1.CallHeld](evs)
			return ok
		})
		forwarded += count[*mediav1.ControlForwarded](events(t, env, "media-call-"+id))
	}
	t.Logf("holds forwarded to the owner through the call's stream: %d of %d", forwarded, n)

	// kill -9 of gw-b.
	killed := time.Now()
	b.crash()
	t.Logf("gw-b killed at %s", killed.Format("05.000"))
	lost := owners["gw-b"]
	for _, id := range lost {
		waitFor(t, 10*ttl+10*time.Second, "lost call "+id+" hung up", func() bool {
			evs := events(t, env, "media-call-"+id)
			_, ended := has[*mediav1.CallEnded](evs)
			return ended && agent.byesOf(id) > 0 && trunk.byesOf(id) > 0
		})
		evs := events(t, env, "media-call-"+id)
		if ce, _ := has[*mediav1.CallEnded](evs); ce.EndReason != mediav1.EndReason_END_REASON_CALL_LOST {
			t.Errorf("call %s: CallEnded %+v, want end_reason CALL_LOST", id, ce)
		}
		cl, _ := has[*mediav1.CallLost](evs)
		if cl.Owner != "gw-b" || cl.TakenOverBy != "gw-a" || !slices.Equal(cl.LegsHungUp, []string{"agent", "contact"}) {
			t.Errorf("call %s: CallLost %+v, want gw-b's call hung up by gw-a on both legs", id, cl)
		}
		last := agent.lastByeOf(id)
		if tb := trunk.lastByeOf(id); tb.After(last) {
			last = tb
		}
		t.Logf("takeover: call %s: both legs got BYE %v after the kill (lease ttl %v)", id, last.Sub(killed).Round(time.Millisecond), ttl)
	}
	// The survivor's calls are untouched, and still its own to end.
	for _, id := range owners["gw-a"] {
		if _, ended := has[*mediav1.CallEnded](events(t, env, "media-call-"+id)); ended || agent.byesOf(id) > 0 {
			t.Errorf("gw-a's call %s ended by the takeover", id)
		}
		i := slices.Index(callIDs(n), id)
		env.AppendAs(fmt.Sprintf("agent-interaction-i%d", i), eventstore.Cause{ID: "hangup-" + id},
			&agentv1.HangupRequested{CallId: id, InteractionId: fmt.Sprintf("i%d", i)})
	}
	for _, id := range owners["gw-a"] {
		waitFor(t, 10*time.Second, "gw-a's call "+id+" hung up", func() bool {
			_, ended := has[*mediav1.CallEnded](events(t, env, "media-call-"+id))
			return ended && agent.byesOf(id) > 0 && trunk.byesOf(id) > 0
		})
	}
	for _, id := range callIDs(n) {
		if agent.invitesOf(id) != 1 || trunk.invitesOf(id) != 1 {
			t.Errorf("call %s: %d INVITEs at the agent's phone, %d at the trunk; want 1 each", id, agent.invitesOf(id), trunk.invitesOf(id))
		}
		if agent.byesOf(id) != 1 || trunk.byesOf(id) != 1 {
			t.Errorf("call %s: %d BYEs at the agent's phone, %d at the trunk; want 1 each (%q, %q)", id, agent.byesOf(id), trunk.byesOf(id),
				agent.byeSources(id), trunk.byeSources(id))
		}
	}
}

func callIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("k%d", i)
	}
	return out
}

// testTTL is the gateways' lease ttl in these tests: short, for quick
// takeovers, but long enough that a loaded machine (-race, other packages'
// tests) does not delay a heartbeat past it.
const testTTL = 2 * time.Second
