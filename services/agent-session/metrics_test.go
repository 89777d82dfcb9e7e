package agentsession

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

// An open desktop event stream counts as one SSE client until it closes;
// a connected call is timed once from its callback's due time, and resuming
// it from hold does not time it again.
func TestMetricsEventStreamsAndDueToConnect(t *testing.T) {
	env := start(t)
	if n := metricValue(t, env, "ringback_agent_event_streams"); n != 0 {
		t.Fatalf("%v event streams before any desktop", n)
	}
	var a agentView
	env.Do("POST", "/v1/agents/a1/session", map[string]string{"phone_uri": "sip:a1@127.0.0.1:5070"}, &a)
	env.Do("PUT", "/v1/agents/a1/state", map[string]string{"channel": "webcallback", "state": "READY"}, &a)
	events := openEvents(t, env, "a1")
	if n := metricValue(t, env, "ringback_agent_event_streams"); n != 1 {
		t.Errorf("%v event streams with one desktop open, want 1", n)
	}

	iid := uuid.NewString()
	offer(env, iid, "a1")
	var v interactionView
	acceptDone := make(chan *http.Response, 1)
	go func() { acceptDone <- env.Do("POST", "/v1/interactions/"+iid+"/accept", nil, &v) }()
	servicetest.WaitEvent[*agentv1.AcceptRequested](env, "agent-interaction-"+iid)
	env.Append("router-interaction-"+iid, "accepted-"+iid, &routingv1.OfferAccepted{InteractionId: iid, AgentId: "a1", OfferId: iid + ":1"})
	<-acceptDone
	env.Do("POST", "/v1/interactions/"+iid+"/call", nil, &v)
	dial := servicetest.WaitEvent[*agentv1.DialRequested](env, "agent-interaction-"+iid)
	env.Append("media-call-"+dial.CallId, "conn-"+dial.CallId, &mediav1.CallConnected{CallId: dial.CallId, InteractionId: iid})
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Status == "Connected" })
	if n := metricValue(t, env, "ringback_due_to_connect_seconds"); n != 1 {
		t.Fatalf("due to connect observed %v times, want 1", n)
	}
	// Held and resumed, the call is connected again: not a second answer.
	env.Append("media-call-"+dial.CallId, "hold-"+dial.CallId, &mediav1.CallHeld{CallId: dial.CallId, InteractionId: iid, Held: true})
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Status == "On Hold" })
	env.Append("media-call-"+dial.CallId, "resume-"+dial.CallId, &mediav1.CallHeld{CallId: dial.CallId, InteractionId: iid})
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Status == "Connected" })
	if n := metricValue(t, env, "ringback_due_to_connect_seconds"); n != 1 {
		t.Errorf("due to connect observed %v times after a hold and resume, want 1", n)
	}

	events.cancel()
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(t, env, "ringback_agent_event_streams") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("event stream still counted after the desktop closed it")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// metricValue is a gauge's or counter's value, or a histogram's count.
func metricValue(t *testing.T, env *servicetest.Env, name string) float64 {
	t.Helper()
	mfs, err := env.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		switch {
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount())
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no %s", name)
	return 0
}
