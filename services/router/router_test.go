package router_test

import (
	"context"
	"flag"
	"net/http"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/router"
)

// start runs the router in a fresh world with its default configuration.
func start(t testing.TB) *servicetest.Env { return startWith(t, nil) }

// startWith runs the router configured by flags.
func startWith(t testing.TB, args []string, before ...func(*servicetest.Env)) *servicetest.Env {
	t.Helper()
	env, _ := startStoppable(t, args, before...)
	return env
}

// startStoppable is startWith, with a function that stops the router (a
// replica going away) while the world goes on.
func startStoppable(t testing.TB, args []string, before ...func(*servicetest.Env)) (*servicetest.Env, func()) {
	t.Helper()
	env := servicetest.New(t)
	for _, f := range before {
		f(env)
	}
	var cfg router.Config
	fs := flag.NewFlagSet("router", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	subscribed := make(chan string, 16)
	subs := func(group string) (message.Subscriber, error) {
		sub, err := env.Subscribers()(group)
		return telling{Subscriber: sub, subscribed: subscribed}, err
	}
	svc, err := router.New(cfg, router.Deps{Store: env.Store, Subscribers: subs, Clock: env.Clock,
		Log: env.Log, Metrics: env.Registry, Mux: env.Mux})
	if err != nil {
		t.Fatal(err)
	}
	// The router runs until the test ends, and stops before the bus closes:
	// the in-process bus hands a message back when its consumer stops before
	// acking it, and the relay's Publish then waits for that ack until the
	// bus closes. servicetest's clean-up (it runs after this one) stops the
	// relay, then closes the bus, which frees it. Closing the bus here, with
	// the relay still running, failed the test now and then ("relay
	// publish: inproc: closed").
	routerCtx, stopRouter := context.WithCancel(context.Background())
	routerDone := make(chan struct{})
	env.Go(func(ctx context.Context) error {
		defer close(routerDone)
		ctx, cancel := context.WithCancel(ctx)
		defer context.AfterFunc(routerCtx, cancel)()
		return svc.Run(ctx)
	})
	t.Cleanup(func() {
		stopRouter()
		select {
		case <-routerDone:
		case <-time.After(10 * time.Second):
			t.Error("router did not stop within 10s")
		}
	})
	// The in-process bus drops what is published before a group subscribed,
	// so the relay starts once the router reads all its topics.
	want := map[string]bool{"ringback.scheduler": true, "ringback.agent": true, "ringback.intake": true}
	for len(want) > 0 {
		select {
		case topic := <-subscribed:
			delete(want, topic)
		case <-time.After(10 * time.Second):
			t.Fatalf("router did not subscribe to %v within 10s", want)
		}
	}
	env.Relay()
	return env, func() {
		stopRouter()
		<-routerDone
	}
}

// telling is a real subscriber that says which topics it subscribed to.
type telling struct {
	message.Subscriber
	subscribed chan<- string
}

func (s telling) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	ch, err := s.Subscriber.Subscribe(ctx, topic)
	if err == nil {
		s.subscribed <- topic
	}
	return ch, err
}

// The other services, as the router hears them.

func agentState(env *servicetest.Env, agent, state string) {
	env.T.Helper()
	st, ok := agentv1.AgentState_value["AGENT_STATE_"+state]
	if !ok {
		env.T.Fatalf("no agent state %q", state)
	}
	env.Append("agent-session-"+agent, uuid.NewString(), &agentv1.AgentStateChanged{AgentId: agent, Channel: router.Channel,
		State: agentv1.AgentState(st), At: timestamppb.New(env.Clock.Now())})
}

// ready makes agent ready and waits until the router knows, so that agents
// made ready one after the other are idle in that order.
func ready(env *servicetest.Env, agent string) {
	env.T.Helper()
	n := countAvailability(env, agent)
	agentState(env, agent, "READY")
	waitUntil(env, "router learns "+agent+" is ready", func() bool { return countAvailability(env, agent) > n })
	env.Clock.Advance(time.Second)
}

func countAvailability(env *servicetest.Env, agent string) int {
	return len(env.Events("router-agent-" + agent))
}

func due(env *servicetest.Env, callbackID, interactionID string) {
	env.T.Helper()
	env.Append("scheduler-callback-"+callbackID, uuid.NewString(), &callbackv1.CallbackDue{CallbackId: callbackID,
		InteractionId: interactionID, DueAt: timestamppb.New(env.Clock.Now()),
		Request: &callbackv1.CallbackRequest{Service: "support", PhoneNumber: "+14155550123", Subject: "Billing",
			CaseData: map[string]string{"order": "A-17"}, RequestedAt: timestamppb.New(servicetest.Start)}})
}

func accept(env *servicetest.Env, o *routingv1.InteractionOffered) {
	env.T.Helper()
	env.Append("agent-interaction-"+o.InteractionId, uuid.NewString(), &agentv1.AcceptRequested{
		InteractionId: o.InteractionId, AgentId: o.AgentId, OfferId: o.OfferId, At: timestamppb.New(env.Clock.Now())})
}

func reject(env *servicetest.Env, o *routingv1.InteractionOffered) {
	env.T.Helper()
	env.Append("agent-interaction-"+o.InteractionId, uuid.NewString(), &agentv1.RejectRequested{
		InteractionId: o.InteractionId, AgentId: o.AgentId, OfferId: o.OfferId, At: timestamppb.New(env.Clock.Now())})
}

func interaction(id string) string { return "router-interaction-" + id }

// offers are the offers made of an interaction so far.
func offers(env *servicetest.Env, interactionID string) []*routingv1.InteractionOffered {
	var out []*routingv1.InteractionOffered
	for _, e := range env.Events(interaction(interactionID)) {
		if o, ok := e.(*routingv1.InteractionOffered); ok {
			out = append(out, o)
		}
	}
	return out
}

// nthOffer waits for the n-th offer (from 1) of an interaction.
func nthOffer(env *servicetest.Env, interactionID string, n int) *routingv1.InteractionOffered {
	env.T.Helper()
	waitUntil(env, "offer "+interactionID, func() bool { return len(offers(env, interactionID)) >= n })
	return offers(env, interactionID)[n-1]
}

func waitUntil(env *servicetest.Env, what string, cond func() bool) {
	env.T.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	env.T.Fatalf("no %s within 10s", what)
}

func types(events []proto.Message) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = string(e.ProtoReflect().Descriptor().Name())
	}
	return out
}

func wantTypes(t *testing.T, got []proto.Message, want ...string) {
	t.Helper()
	g := types(got)
	if len(g) != len(want) {
		t.Fatalf("events %v, want %v", g, want)
	}
	for i := range g {
		if g[i] != want[i] {
			t.Fatalf("events %v, want %v", g, want)
		}
	}
}

func TestOfferedToReadyAgentAcceptedAndDone(t *testing.T) {
	env := start(t)
	ready(env, "a1")
	due(env, "c1", "i1")

	o := nthOffer(env, "i1", 1)
	if o.AgentId != "a1" || o.OfferId != "i1:1" || o.CallbackId != "c1" || o.Request.GetService() != "support" ||
		o.Request.GetCaseData()["order"] != "A-17" || o.QueuedAt == nil || o.ScheduledFor == nil {
		t.Fatalf("offer = %v", o)
	}
	if got := o.ExpiresAt.AsTime().Sub(o.OfferedAt.AsTime()); got != 15*time.Second {
		t.Fatalf("offer runs %s, want the default 15s", got)
	}

	accept(env, o)
	acc := servicetest.WaitEvent[*routingv1.OfferAccepted](env, interaction("i1"))
	if acc.AgentId != "a1" || acc.OfferId != "i1:1" {
		t.Fatalf("accepted = %v", acc)
	}
	// intake finds the callback of an OfferAccepted by its correlation.
	recs, err := env.Store.ReadStream(t.Context(), interaction("i1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Metadata[eventstore.MetaCorrelation] != "c1" {
			t.Fatalf("%s correlation = %q, want c1", r.Type, r.Metadata[eventstore.MetaCorrelation])
		}
	}

	env.Append("agent-interaction-i1", uuid.NewString(), &agentv1.InteractionDone{InteractionId: "i1", CallbackId: "c1",
		AgentId: "a1", At: timestamppb.New(env.Clock.Now())})
	if c := servicetest.WaitEvent[*routingv1.InteractionClosed](env, interaction("i1")); c.Reason != "done" {
		t.Fatalf("closed = %v", c)
	}
	wantTypes(t, env.Events(interaction("i1")), "InteractionQueued", "InteractionOffered", "OfferAccepted", "InteractionClosed")
}

func TestRejectedGoesToAnotherAgent(t *testing.T) {
	env := start(t)
	ready(env, "a1") // idle the longest: gets it first
	ready(env, "a2")
	due(env, "c1", "i1")

	first := nthOffer(env, "i1", 1)
	if first.AgentId != "a1" {
		t.Fatalf("first offer to %s, want a1 (longest idle)", first.AgentId)
	}
	reject(env, first)
	second := nthOffer(env, "i1", 2)
	if second.AgentId != "a2" || second.OfferId != "i1:2" {
		t.Fatalf("second offer = %v, want i1:2 to a2", second)
	}
	wantTypes(t, env.Events(interaction("i1")), "InteractionQueued", "InteractionOffered", "OfferRejected", "InteractionOffered")
}

func TestOfferTimesOutAndIsOfferedAgain(t *testing.T) {
	env := start(t)
	ready(env, "a1")
	due(env, "c1", "i1")
	first := nthOffer(env, "i1", 1)

	waitUntil(env, "offer timer", func() bool { return env.Clock.Waiters() > 0 })
	env.Clock.Advance(16 * time.Second)
	to := servicetest.WaitEvent[*routingv1.OfferTimedOut](env, interaction("i1"))
	if to.OfferId != "i1:1" || to.AgentId != "a1" {
		t.Fatalf("timed out = %v", to)
	}
	// Nobody else is ready, so it comes back to a1 under a new offer id.
	second := nthOffer(env, "i1", 2)
	if second.AgentId != "a1" || second.OfferId != "i1:2" {
		t.Fatalf("second offer = %v", second)
	}

	// The late accept of the first offer changes nothing; the second one is
	// accepted. Both travel on one stream, so the first is handled first.
	accept(env, first)
	accept(env, second)
	if acc := servicetest.WaitEvent[*routingv1.OfferAccepted](env, interaction("i1")); acc.OfferId != "i1:2" {
		t.Fatalf("accepted = %v", acc)
	}
	wantTypes(t, env.Events(interaction("i1")),
		"InteractionQueued", "InteractionOffered", "OfferTimedOut", "InteractionOffered", "OfferAccepted")
}

type queueJSON struct {
	Service           string  `json:"service"`
	Waiting           int     `json:"waiting"`
	OldestWaitSeconds float64 `json:"oldest_wait_seconds"`
	Offered           int     `json:"offered"`
	AgentsReady       int     `json:"agents_ready"`
}

func getQueue(env *servicetest.Env) queueJSON {
	env.T.Helper()
	var q queueJSON
	if res := env.Do(http.MethodGet, "/v1/queues/support", nil, &q); res.StatusCode != http.StatusOK {
		env.T.Fatalf("GET /v1/queues/support: %d", res.StatusCode)
	}
	return q
}

// position is where the last event of stream landed in the store's order.
func position(env *servicetest.Env, stream string) eventstore.Position {
	env.T.Helper()
	recs, err := env.Store.ReadStream(env.T.Context(), stream, 0)
	if err != nil || len(recs) == 0 {
		env.T.Fatalf("read %s: %d events, %v", stream, len(recs), err)
	}
	return recs[len(recs)-1].Position
}

func TestAgentNeverHoldsTwoOffersAndQueuesShowIt(t *testing.T) {
	env := start(t)
	ready(env, "a1")
	due(env, "c1", "i1")
	// Streams are consumed concurrently: i1 must be queued first for it
	// to be the one a1 is offered.
	servicetest.WaitEvent[*routingv1.InteractionQueued](env, interaction("i1"))
	due(env, "c2", "i2")

	if o := nthOffer(env, "i1", 1); o.AgentId != "a1" {
		t.Fatalf("i1 offered to %s", o.AgentId)
	}
	servicetest.WaitEvent[*routingv1.InteractionQueued](env, interaction("i2"))
	env.Clock.Advance(5 * time.Second)
	waitUntil(env, "queue with one waiting, one offered", func() bool {
		q := getQueue(env)
		return q.Waiting == 1 && q.Offered == 1
	})
	q := getQueue(env)
	if q.Service != "support" || q.AgentsReady != 1 || q.OldestWaitSeconds != 5 {
		t.Fatalf("queue = %+v", q)
	}
	var all struct{ Queues []queueJSON }
	env.Do(http.MethodGet, "/v1/queues", nil, &all)
	if len(all.Queues) != 1 || all.Queues[0] != q {
		t.Fatalf("queues = %+v, want [%+v]", all.Queues, q)
	}

	// A second agent takes the second interaction; a1 still holds one offer.
	ready(env, "a2")
	if o := nthOffer(env, "i2", 1); o.AgentId != "a2" {
		t.Fatalf("i2 offered to %s while a1 holds i1", o.AgentId)
	}

	// a1 accepts: busy until agent-session says READY again, so a third
	// interaction waits although a1 never said anything but READY before.
	accept(env, offers(env, "i1")[0])
	servicetest.WaitEvent[*routingv1.OfferAccepted](env, interaction("i1"))
	due(env, "c3", "i3")
	servicetest.WaitEvent[*routingv1.InteractionQueued](env, interaction("i3"))
	agentState(env, "a1", "BUSY")
	agentState(env, "a1", "READY")
	o3 := nthOffer(env, "i3", 1)
	if o3.AgentId != "a1" {
		t.Fatalf("i3 offered to %s", o3.AgentId)
	}
	// It was offered only after the router learned a1 was ready again.
	if offered := position(env, interaction("i3")); offered.Less(position(env, "router-agent-a1")) {
		t.Fatal("i3 was offered to a1 before a1 was ready again")
	}
	for _, id := range []string{"i1", "i2", "i3"} {
		if n := len(offers(env, id)); n != 1 {
			t.Fatalf("%s offered %d times", id, n)
		}
	}
}

func TestCancelledCallbackLeavesTheQueue(t *testing.T) {
	env := start(t)
	due(env, "c1", "i1")
	waitUntil(env, "queued", func() bool { return getQueue(env).Waiting == 1 })

	env.Append("intake-callback-c1", uuid.NewString(), &callbackv1.CallbackCancelled{CallbackId: "c1",
		At: timestamppb.New(env.Clock.Now()), Reason: "cancelled by the visitor"})
	if c := servicetest.WaitEvent[*routingv1.InteractionClosed](env, interaction("i1")); c.Reason != "callback cancelled" {
		t.Fatalf("closed = %v", c)
	}
	waitUntil(env, "empty queue", func() bool { return getQueue(env).Waiting == 0 })

	// Nobody is offered a closed interaction.
	ready(env, "a1")
	due(env, "c2", "i2")
	if o := nthOffer(env, "i2", 1); o.AgentId != "a1" {
		t.Fatalf("i2 offered to %s", o.AgentId)
	}
	if n := len(offers(env, "i1")); n != 0 {
		t.Fatalf("cancelled i1 offered %d times", n)
	}
}

// A contact's reschedule of a due callback (the scheduler asks) takes its
// queued interaction out of the queue; the scheduler queues a new one at
// the new time.
func TestRescheduledCallbackLeavesTheQueue(t *testing.T) {
	env := start(t)
	due(env, "c1", "i1")
	waitUntil(env, "queued", func() bool { return getQueue(env).Waiting == 1 })
	move := &callbackv1.CallbackRescheduleRequested{CallbackId: "c1",
		DesiredTime: timestamppb.New(env.Clock.Now().Add(time.Hour)), At: timestamppb.New(env.Clock.Now())}
	env.Append("scheduler-callback-c1", uuid.NewString(), &callbackv1.CallbackMoveAsked{CallbackId: "c1", InteractionId: "i1",
		Move: move, At: timestamppb.New(env.Clock.Now())})
	c := servicetest.WaitEvent[*routingv1.InteractionClosed](env, interaction("i1"))
	// The move is told on to the scheduler, which applies it on this.
	if c.Reason != "callback rescheduled by the contact" || !proto.Equal(c.WithdrawnFor, move) {
		t.Fatalf("closed = %v", c)
	}
	waitUntil(env, "empty queue", func() bool { return getQueue(env).Waiting == 0 })
}

// A contact's reschedule after an agent accepted the interaction leaves it
// in the agent's hands and tells no move on: the call goes ahead, once
// (the scheduler moves a due callback only on a withdrawal).
func TestRescheduleAfterAnAcceptLeavesTheCall(t *testing.T) {
	env := start(t)
	ready(env, "a1")
	due(env, "c1", "i1")
	accept(env, nthOffer(env, "i1", 1))
	servicetest.WaitEvent[*routingv1.OfferAccepted](env, interaction("i1"))
	due(env, "c2", "i2")
	waitUntil(env, "i2 queued", func() bool { return len(env.Events(interaction("i2"))) > 0 })
	move := func(cb, ix string) {
		env.Append("scheduler-callback-"+cb, uuid.NewString(), &callbackv1.CallbackMoveAsked{CallbackId: cb, InteractionId: ix,
			Move: &callbackv1.CallbackRescheduleRequested{CallbackId: cb, DesiredTime: timestamppb.New(env.Clock.Now().Add(time.Hour))},
			At:   timestamppb.New(env.Clock.Now())})
	}
	move("c1", "i1")
	// Handled after the first: a move of a queued callback, on the same topic.
	move("c2", "i2")
	servicetest.WaitEvent[*routingv1.InteractionClosed](env, interaction("i2"))
	for _, e := range env.Events(interaction("i1")) {
		if c, ok := e.(*routingv1.InteractionClosed); ok {
			t.Fatalf("the accepted interaction was closed by the move: %v", c)
		}
	}
}

func TestLoggedOutAgentIsNotOffered(t *testing.T) {
	env := start(t)
	ready(env, "a1")
	ready(env, "a2")
	env.Append("agent-session-a1", uuid.NewString(), &agentv1.AgentLoggedOut{AgentId: "a1", At: timestamppb.New(env.Clock.Now())})
	waitUntil(env, "a1 not ready", func() bool { return countAvailability(env, "a1") == 2 })
	due(env, "c1", "i1")
	if o := nthOffer(env, "i1", 1); o.AgentId != "a2" {
		t.Fatalf("offered to %s, want a2", o.AgentId)
	}
}

func TestBadServiceIsAProblem(t *testing.T) {
	env := start(t)
	var p struct {
		Field  string `json:"field"`
		Status int    `json:"status"`
	}
	res := env.Do(http.MethodGet, "/v1/queues/Not%20A%20Service", nil, &p)
	if res.StatusCode != http.StatusBadRequest || p.Field != "service" ||
		res.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d, problem %+v, type %s", res.StatusCode, p, res.Header.Get("Content-Type"))
	}
}

func TestMetricsCountOffers(t *testing.T) {
	env := start(t)
	ready(env, "a1")
	due(env, "c1", "i1")
	nthOffer(env, "i1", 1)
	// The counters move just after the offer is stored.
	waitUntil(env, "offer metrics", func() bool {
		got := metrics(t, env)
		return got["ringback_router_offers_total"] == 1 && got["ringback_router_queued_to_offered_seconds"] == 1
	})
}

// metrics are the counters' values and the histograms' sample counts.
func metrics(t *testing.T, env *servicetest.Env) map[string]float64 {
	mfs, err := env.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				got[mf.GetName()] = c.GetValue()
			}
			if h := m.GetHistogram(); h != nil {
				got[mf.GetName()] = float64(h.GetSampleCount())
			}
		}
	}
	return got
}
