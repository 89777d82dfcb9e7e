package agentsession

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

// TestInteractionAt (issue 14, time travel): GET /v1/interactions/{id}?at=
// answers the interaction as it was then, in the live answer's shape; a bad
// moment is a 400 naming at, one before the interaction a 404.
func TestInteractionAt(t *testing.T) {
	env := start(t)
	env.Do("POST", "/v1/agents/a1/session", map[string]string{"phone_uri": "sip:a1@127.0.0.1:5070"}, nil)
	env.Do("PUT", "/v1/agents/a1/state", map[string]string{"channel": "webcallback", "state": "READY"}, nil)
	iid := uuid.NewString()
	before := env.Clock.Now().Add(-time.Second)
	offer(env, iid, "a1")
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Phase == "offered" })
	offered := env.Clock.Now()
	env.Clock.Advance(5 * time.Second) // within the offer's 15 s
	accepted := make(chan *http.Response, 1)
	go func() { accepted <- env.Do("POST", "/v1/interactions/"+iid+"/accept", nil, nil) }()
	servicetest.WaitEvent[*agentv1.AcceptRequested](env, "agent-interaction-"+iid)
	env.Append("router-interaction-"+iid, "accepted-"+iid, &routingv1.OfferAccepted{InteractionId: iid, AgentId: "a1", OfferId: iid + ":1"})
	if res := <-accepted; res.StatusCode != 200 {
		t.Fatalf("accept: %d", res.StatusCode)
	}
	live := waitStatus(t, env, iid, func(v interactionView) bool { return v.Phase == "accepted" })
	env.Clock.Advance(time.Minute)

	at := func(tm time.Time) string {
		return "/v1/interactions/" + iid + "?at=" + url.QueryEscape(tm.Format(time.RFC3339Nano))
	}
	var then interactionView
	res := env.Do("GET", at(offered), nil, &then)
	if res.StatusCode != 200 || then.Phase != "offered" || then.AgentID != "a1" || then.Callback.Subject != "Billing" {
		t.Fatalf("as offered: %d %+v", res.StatusCode, then)
	}
	if res.Header.Get("Ringback-As-Of") == "" || res.Header.Get("Ringback-As-Of-Revision") != "0" || res.Header.Get("Ringback-Position") == "" {
		t.Fatalf("headers: %v", res.Header)
	}
	var now map[string]any
	res = env.Do("GET", at(env.Clock.Now()), nil, &now)
	var liveRaw map[string]any
	env.Do("GET", "/v1/interactions/"+iid, nil, &liveRaw)
	a, _ := json.Marshal(now)
	b, _ := json.Marshal(liveRaw)
	if res.StatusCode != 200 || !bytes.Equal(a, b) || live.Phase != "accepted" {
		t.Fatalf("at now %d %s\nlive %s", res.StatusCode, a, b)
	}

	for _, tc := range []struct {
		query  string
		status int
		field  string
	}{
		{"?at=2026-13-01T00:00:00Z", 400, "at"},
		{"?at=" + url.QueryEscape(env.Clock.Now().Add(time.Second).Format(time.RFC3339)), 400, "at"},
		{"?at=" + url.QueryEscape(before.Format(time.RFC3339Nano)), 404, ""},
	} {
		var p problemBody
		if res := env.Do("GET", "/v1/interactions/"+iid+tc.query, nil, &p); res.StatusCode != tc.status || p.Field != tc.field {
			t.Fatalf("%s: %d %+v", tc.query, res.StatusCode, p)
		}
	}
	var p problemBody
	if res := env.Do("GET", "/v1/interactions/"+uuid.NewString()+"?at="+url.QueryEscape(offered.Format(time.RFC3339)), nil, &p); res.StatusCode != 404 {
		t.Fatalf("unknown interaction: %d", res.StatusCode)
	}
}
