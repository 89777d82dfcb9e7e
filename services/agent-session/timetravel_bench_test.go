package agentsession

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/service"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/servicetest"
	"github.com/ringback/ringback/proto/catalog"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// longInteraction is an interaction of n events (n >= 5) as an agent's
// busy one looks: presented, accepted, then calls with mute, case data and
// ends, one after the other, then its disposition and done. One event a
// second.
func longInteraction(iid string, n int) []proto.Message {
	at := func(i int) *timestamppb.Timestamp {
		return timestamppb.New(servicetest.Start.Add(time.Duration(i) * time.Second))
	}
	out := []proto.Message{
		&agentv1.InteractionPresented{InteractionId: iid, CallbackId: "cb-" + iid, AgentId: "a1", OfferId: iid + ":1",
			Request: &callbackv1.CallbackRequest{Service: "support", PhoneNumber: "+14155550123", Subject: "Billing",
				CaseData: map[string]string{"order": "A-17"}, RequestedAt: at(0)},
			ExpiresAt: at(15), QueuedAt: at(0), At: at(0)},
		&agentv1.AcceptRequested{InteractionId: iid, AgentId: "a1", OfferId: iid + ":1", At: at(1)},
		&agentv1.InteractionAccepted{InteractionId: iid, AgentId: "a1", At: at(2)},
	}
	for call := 0; len(out) < n-2; call++ {
		cid := fmt.Sprintf("%s-c%d", iid, call)
		i := len(out)
		for _, e := range []proto.Message{
			&agentv1.DialRequested{InteractionId: iid, CallId: cid, AgentId: "a1", PhoneNumber: "+14155550123", Service: "support", At: at(i)},
			&agentv1.CallStatusChanged{InteractionId: iid, CallId: cid, Status: interaction.Connected, At: at(i + 1)},
			&agentv1.CallFlagsChanged{InteractionId: iid, CallId: cid, Muted: true, At: at(i + 2)},
			&agentv1.CallFlagsChanged{InteractionId: iid, CallId: cid, At: at(i + 3)},
			&agentv1.CaseDataNoted{InteractionId: iid, CaseData: map[string]string{"order": "A-17", "call": cid}, At: at(i + 4)},
			&agentv1.CallStatusChanged{InteractionId: iid, CallId: cid, Status: interaction.ReadyToCall, EndReason: mediav1.EndReason_END_REASON_HANGUP_REQUESTED, Outcome: "no-answer", At: at(i + 5)},
		} {
			if len(out) < n-2 {
				out = append(out, e)
			}
		}
	}
	return append(out, &agentv1.DispositionNoted{InteractionId: iid, Code: "resolved", At: at(n - 2)},
		&agentv1.InteractionDone{InteractionId: iid, CallbackId: "cb-" + iid, AgentId: "a1", Disposition: "resolved", At: at(n - 1)})
}

// BenchmarkTimeTravel (issue 14): the fold of one interaction of 200
// events (decode and evolve) beside decoding the same events without
// folding; and GET /v1/interactions/{id}?at= at its 100th event, read from
// the embedded store over loopback HTTP, beside the live GET of the same
// interaction, in alternating requests.
func BenchmarkTimeTravel(b *testing.B) {
	const events, runs = 200, 2000
	env := servicetest.New(b)
	iid := uuid.NewString()
	for i, e := range longInteraction(iid, events) {
		env.Append("agent-interaction-"+iid, fmt.Sprintf("e%d", i), e)
		env.Clock.Advance(time.Second)
	}
	recs, err := env.Store.ReadStream(b.Context(), "agent-interaction-"+iid, 0)
	if err != nil || len(recs) != events {
		b.Fatalf("%d events: %v", len(recs), err)
	}
	s, err := New(Config{CallingWindow: "00:00-24:00"}, Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock,
		Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
	if err != nil {
		b.Fatal(err)
	}
	env.Go(s.Run)
	mid := recs[events/2-1].Time
	atURL := env.Server.URL + "/v1/interactions/" + iid + "?at=" + url.QueryEscape(mid.Format(time.RFC3339Nano))
	liveURL := env.Server.URL + "/v1/interactions/" + iid

	get := func(u string) time.Duration {
		t0 := time.Now()
		res, err := http.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, res.Body); err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("GET %s: %d", u, res.StatusCode)
		}
		return time.Since(t0)
	}
	end := recs[events-1].Time
	for b.Loop() {
		var fold, decode, at, live []time.Duration
		for range runs {
			t0 := time.Now()
			st := eventstore.FoldUntil(recs, interactions, end)
			fold = append(fold, time.Since(t0))
			if st.State.Phase != interaction.Done || st.Events != events {
				b.Fatalf("fold: %+v", st.State)
			}
			t0 = time.Now()
			for _, r := range recs {
				if _, err := catalog.Decode(r.Type, r.Data); err != nil {
					b.Fatal(err)
				}
			}
			decode = append(decode, time.Since(t0))
		}
		for range runs {
			at = append(at, get(atURL))
			live = append(live, get(liveURL))
		}
		fmt.Printf("time travel: one interaction of %d events, %d runs each\n", events, runs)
		fmt.Printf("  fold (decode + evolve):   p50 %8s  p99 %8s (target p99 < 1 ms); baseline, decode only: p50 %8s  p99 %8s\n",
			pct(fold, .5), pct(fold, .99), pct(decode, .5), pct(decode, .99))
		fmt.Printf("  GET ?at= (event %3d):    p50 %8s  p99 %8s (target p99 < 5 ms); baseline, live GET:    p50 %8s  p99 %8s\n",
			events/2, pct(at, .5), pct(at, .99), pct(live, .5), pct(live, .99))
		b.ReportMetric(float64(pct(fold, .99).Microseconds()), "fold-p99-µs")
		b.ReportMetric(float64(pct(at, .99).Microseconds()), "at-p99-µs")
	}
}

func pct(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))].Round(time.Microsecond)
}
