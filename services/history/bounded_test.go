package history_test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/history"
	"github.com/ringback/ringback/services/history/timeline"
)

// startCapped runs history with a cap of held callbacks; more instances
// on env's store are replicas (their own mux, the same store and bus).
func startCapped(t *testing.T, env *servicetest.Env, cfg history.Config, mux *http.ServeMux) *history.Service {
	t.Helper()
	reg := env.Registry
	if mux != env.Mux {
		reg = nil
	}
	deps := history.Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Mux: mux}}
	if reg != nil {
		deps.Metrics = reg
	} else {
		deps.Metrics = newRegistry()
	}
	svc, err := history.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	env.Go(svc.Run)
	return svc
}

// life plays a short callback's life: requested, due, offered to and
// accepted by agent, done.
func life(env *servicetest.Env, cb, iid, number, agent string) {
	env.T.Helper()
	r := &callbackv1.CallbackRequest{Service: "support", PhoneNumber: number, Subject: "about " + cb,
		RequestedAt: timestamppb.New(env.Clock.Now())}
	for i, f := range []struct {
		stream string
		e      proto.Message
	}{
		{"intake-callback-" + cb, &callbackv1.CallbackRequested{CallbackId: cb, Request: r}},
		{"scheduler-callback-" + cb, &callbackv1.CallbackDue{CallbackId: cb, Request: r, InteractionId: iid}},
		{"router-interaction-" + iid, &routingv1.InteractionOffered{InteractionId: iid, CallbackId: cb, AgentId: agent, Request: r}},
		{"router-interaction-" + iid, &routingv1.OfferAccepted{InteractionId: iid, AgentId: agent}},
		{"agent-interaction-" + iid, &agentv1.InteractionDone{InteractionId: iid, CallbackId: cb, AgentId: agent, Disposition: "resolved"}},
	} {
		env.AppendAs(f.stream, eventstore.Cause{ID: fmt.Sprintf("%s-%d", cb, i), Correlation: cb}, f.e)
		env.Clock.Advance(time.Second) // the trail's order is the facts' times
	}
}

func TestMemoryHoldsTheCapAndOldCallbacksStillAnswer(t *testing.T) {
	const cap, n = history.MinCachedCallbacks, 500
	env := servicetest.New(t)
	cfg := history.Config{RecentDays: 1, CachedCallbacks: cap, AgentsFile: servicetest.AgentsFile(t, "a1", "a2")}
	svc := startCapped(t, env, cfg, env.Mux)
	for _, name := range []string{"intake", "scheduler", "router", "agent", "media", "disposition"} {
		eventually(t, "subscribed to "+name, func() bool { return env.Bus.Groups(envelope.TopicOf(name)) > 0 })
	}
	env.Relay()

	var most atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // the cap holds all along, not only at the end
		defer close(sampled)
		for {
			if h := int64(svc.HeldCallbacks()); h > most.Load() {
				most.Store(h)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	// Callback c0 and every 50th are the returning contact's; the others
	// each have a number of their own. Even ones are a1's, odd ones a2's.
	number := func(i int) string {
		if i%50 == 0 {
			return phone
		}
		return fmt.Sprintf("+1415556%04d", i)
	}
	agent := func(i int) string { return []string{"a1", "a2"}[i%2] }
	for i := range n {
		life(env, fmt.Sprintf("c%d", i), fmt.Sprintf("i%d", i), number(i), agent(i))
	}
	last := fmt.Sprintf("i%d", n-1)
	eventually(t, "the last callback recorded", func() bool {
		var got []entry
		res := env.DoWith(http.MethodGet, "/v1/interactions/"+last+"/events", servicetest.Bearer(agent(n-1)), nil, &got)
		return res.StatusCode == http.StatusOK && len(got) == 5
	})
	close(stop)
	<-sampled
	if m := most.Load(); m > cap {
		t.Fatalf("held up to %d callbacks, cap %d", m, cap)
	}
	if svc.HeldCallbacks() > cap {
		t.Fatalf("held %d callbacks, cap %d", svc.HeldCallbacks(), cap)
	}

	// The first callback left memory long ago: its trail, its contact's
	// history and matrix come from the store, for its agent only.
	check := func(t *testing.T, env *servicetest.Env, base string, trailLen int) {
		t.Helper()
		do := func(method, path, who string, out any) int {
			return env.DoWith(method, path, servicetest.Bearer(who), nil, out).StatusCode
		}
		if base != "" {
			do = func(method, path, who string, out any) int {
				return doAt(t, base, method, path, who, out)
			}
		}
		var got []entry
		if s := do(http.MethodGet, "/v1/interactions/i0/events", "a1", &got); s != 200 || len(got) != trailLen ||
			got[0].Type != "CallbackRequested" || got[4].Type != "InteractionDone" {
			t.Fatalf("trail of i0: %d %+v", s, got)
		}
		if s := do(http.MethodGet, "/v1/interactions/i0/events", "a2", nil); s != 404 {
			t.Fatalf("trail of i0 for a2: %d", s)
		}
		var rows []row
		if s := do(http.MethodGet, "/v1/contacts/"+escaped+"/history", "a1", &rows); s != 200 || len(rows) != n/50 {
			t.Fatalf("contact history: %d, %d rows", s, len(rows))
		}
		for i, r := range rows { // newest first
			want := fmt.Sprintf("c%d", (n/50-1-i)*50)
			if r.CallbackID != want || r.State != "COMPLETED" || r.Disposition != "resolved" || r.Subject != "about "+want {
				t.Fatalf("row %d: %+v, want %s", i, r, want)
			}
		}
		var m struct {
			InProgress struct{ Count int } `json:"in_progress"`
			Recent     struct{ Count int } `json:"recent"`
		}
		if s := do(http.MethodGet, "/v1/contacts/"+escaped+"/matrix", "a1", &m); s != 200 || m.InProgress.Count != 0 || m.Recent.Count != n/50 {
			t.Fatalf("matrix: %d %+v", s, m)
		}
		if s := do(http.MethodGet, "/v1/contacts/%2B14155560001/history", "a1", nil); s != 404 {
			t.Fatalf("a2's contact for a1: %d", s)
		}
		if s := do(http.MethodGet, "/v1/contacts/%2B14155560001/history", "a2", &rows); s != 200 || len(rows) != 1 || rows[0].CallbackID != "c1" {
			t.Fatalf("a2's contact: %d %+v", s, rows)
		}
	}
	check(t, env, "", 5)
	if svc.HeldCallbacks() > cap {
		t.Fatalf("held %d callbacks after reading old ones, cap %d", svc.HeldCallbacks(), cap)
	}
	// A note on an old callback is recorded and shown.
	if res := env.DoWith(http.MethodPost, "/v1/interactions/i0/notes", servicetest.Bearer("a1"),
		map[string]string{"text": "called back"}, nil); res.StatusCode != http.StatusCreated {
		t.Fatalf("note on i0: %d", res.StatusCode)
	}

	// Another replica on the same store, started now, answers the same.
	mux := http.NewServeMux()
	other := startCapped(t, env, cfg, mux)
	base := serve(t, mux)
	eventually(t, "the replica ready", func() bool { return other.Ready() == nil })
	check(t, env, base, 6)
	if other.HeldCallbacks() > cap {
		t.Fatalf("replica holds %d callbacks, cap %d", other.HeldCallbacks(), cap)
	}
}

// TestTrailsOfAnOlderVersionAreIndexed: trails recorded before history
// wrote index streams are found once they leave memory, and the replica
// is not ready before they are indexed.
func TestTrailsOfAnOlderVersionAreIndexed(t *testing.T) {
	const cap, n = history.MinCachedCallbacks, 3 * history.MinCachedCallbacks
	env := servicetest.New(t)
	old := func(i int) { // as an older history records them: no index
		cb, iid := fmt.Sprintf("c%d", i), fmt.Sprintf("i%d", i)
		r := &callbackv1.CallbackRequest{Service: "support", PhoneNumber: phone, RequestedAt: timestamppb.New(env.Clock.Now())}
		data, _ := proto.Marshal(&callbackv1.CallbackDue{CallbackId: cb, InteractionId: iid, Request: r})
		env.AppendAs(timeline.Stream(cb), eventstore.Cause{ID: cb, Correlation: cb}, &historyv1.InteractionEventRecorded{
			InteractionId: iid, CallbackId: cb, EventId: cb, EventType: "ringback.callback.v1.CallbackDue",
			Source: "scheduler-callback-" + cb, OccurredAt: timestamppb.New(env.Clock.Now()), Data: data, PhoneNumber: phone})
	}
	for i := range n {
		old(i)
	}
	svc := startCapped(t, env, history.Config{RecentDays: 1, CachedCallbacks: cap}, env.Mux)
	eventually(t, "ready", func() bool { return svc.Ready() == nil })
	if svc.HeldCallbacks() > cap {
		t.Fatalf("held %d", svc.HeldCallbacks())
	}
	if n := len(env.Events("history-interaction-i0")); n != 1 {
		t.Fatalf("i0 indexed %d times", n)
	}
	var got []entry
	if res := env.Do(http.MethodGet, "/v1/interactions/i0/events", nil, &got); res.StatusCode != 200 || len(got) != 1 {
		t.Fatalf("trail of i0: %d %+v", res.StatusCode, got)
	}
	var rows []row
	if res := env.Do(http.MethodGet, "/v1/contacts/"+escaped+"/history", nil, &rows); res.StatusCode != 200 || len(rows) != n {
		t.Fatalf("contact history: %d, %d rows", res.StatusCode, len(rows))
	}
	// An older replica still recording beside this one (a rolling
	// upgrade): what it records is indexed too, and found once evicted.
	for i := n; i < 2*n; i++ {
		old(i)
	}
	eventually(t, "the older replica's callbacks indexed", func() bool {
		return len(env.Events(fmt.Sprintf("history-interaction-i%d", 2*n-1))) == 1
	})
	if res := env.Do(http.MethodGet, fmt.Sprintf("/v1/interactions/i%d/events", n), nil, &got); res.StatusCode != 200 || len(got) != 1 {
		t.Fatalf("trail of i%d: %d %+v", n, res.StatusCode, got)
	}
	if res := env.Do(http.MethodGet, "/v1/contacts/"+escaped+"/history", nil, &rows); res.StatusCode != 200 || len(rows) != 2*n {
		t.Fatalf("contact history: %d, %d rows", res.StatusCode, len(rows))
	}
}

// TestVoidedRequestLeavesNoTrail: intake voids a request whose claim was
// abandoned; it never was a callback, so history records nothing of it.
func TestVoidedRequestLeavesNoTrail(t *testing.T) {
	env := start(t)
	env.AppendAs("intake-callback-cv", eventstore.Cause{ID: "void:cv", Correlation: "cv"},
		&callbackv1.CallbackVoided{CallbackId: "cv", At: timestamppb.New(env.Clock.Now())})
	// Behind it on the same topic, a real request: once it is recorded,
	// the void was handled.
	env.AppendAs("intake-callback-c2", eventstore.Cause{ID: "request:c2", Correlation: "c2"},
		&callbackv1.CallbackRequested{CallbackId: "c2", Request: request("after the void")})
	eventually(t, "c2 recorded", func() bool {
		var rows []row
		env.Do(http.MethodGet, "/v1/contacts/"+escaped+"/history", nil, &rows)
		return len(rows) == 1 && rows[0].CallbackID == "c2"
	})
	if n := len(env.Events(timeline.Stream("cv"))); n != 0 {
		t.Fatalf("voided request recorded: %d events", n)
	}
}
