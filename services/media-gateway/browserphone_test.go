package mediagateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringback/ringback/libs/clock"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	mediagateway "github.com/ringback/ringback/services/media-gateway"
	"github.com/ringback/ringback/services/media-gateway/rtplink"
	"github.com/ringback/ringback/services/media-gateway/sip"
	"github.com/ringback/ringback/services/media-gateway/webphone"
)

// TestBrowserRingsOnItsOwner (issue 15): with two gateway instances, a
// call to an agent whose phone is their browser rings at the browsers'
// phones of the instance that placed it, and its AgentRinging says where
// that instance's signalling is; the other instance's route answers 404
// naming the call, pointing to the owner.
func TestBrowserRingsOnItsOwner(t *testing.T) {
	env := newEnv(t)
	trunk := startPhone(t)
	a := startBrowserGateway(t, env, "gw-a", trunk.Addr)
	b := startBrowserGateway(t, env, "gw-b", trunk.Addr)
	waitReady(t, env, a.gateway, b.gateway)
	env.Relay()

	const n = 4
	for i := range n {
		env.AppendAs(fmt.Sprintf("agent-interaction-b%d", i), eventstore.Cause{ID: fmt.Sprintf("bdial-%d", i)},
			&agentv1.DialRequested{CallId: fmt.Sprintf("b%d", i), InteractionId: fmt.Sprintf("bi%d", i), AgentId: "a1",
				AgentPhoneUri: sip.WebPhonePrefix + "a1", PhoneNumber: contactNumber, Service: "support"})
	}
	gws := map[string]*browserGateway{"gw-a": a, "gw-b": b}
	for i := range n {
		id := fmt.Sprintf("b%d", i)
		var ring *mediav1.AgentRinging
		waitFor(t, 10*time.Second, "the browser ringing for "+id, func() bool {
			r, ok := has[*mediav1.AgentRinging](events(t, env, "media-call-"+id))
			ring = r
			return ok
		})
		started, _ := has[*mediav1.DialStarted](events(t, env, "media-call-"+id))
		owner, other := gws[started.Instance], a
		if owner == a {
			other = b
		}
		if !ring.Browser || ring.BrowserUrl != owner.url {
			t.Errorf("%s: AgentRinging browser %v at %q, want its owner %s's %q", id, ring.Browser, ring.BrowserUrl, started.Instance, owner.url)
		}
		if !owner.phones.Has(id) || other.phones.Has(id) {
			t.Errorf("%s rings on %s's phones %v, on the other's %v", id, started.Instance, owner.phones.Has(id), other.phones.Has(id))
		}
		// The browser's offer at the other instance: refused, naming the call.
		res, body := post(t, other.http.URL+"/v1/agents/a1/phone/calls/"+id, `{"type":"offer","sdp":"v=0\r\n"}`)
		if res.StatusCode != http.StatusNotFound || body.Field != "call" || !strings.Contains(body.Detail, "another gateway instance") {
			t.Errorf("%s: the offer at the other instance: %d %+v", id, res.StatusCode, body)
		}
		// A bad offer at the owner: 400 naming sdp, the call still rings.
		res, body = post(t, owner.http.URL+"/v1/agents/a1/phone/calls/"+id, `{"type":"offer","sdp":"v=0\r\nnot sdp"}`)
		if res.StatusCode != http.StatusBadRequest || body.Field != "sdp" {
			t.Errorf("%s: a bad offer: %d %+v", id, res.StatusCode, body)
		}
		// The agent declines at the owner: the attempt fails as the agent's.
		req, _ := http.NewRequest("DELETE", owner.http.URL+"/v1/agents/a1/phone/calls/"+id, nil)
		if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusNoContent {
			t.Fatalf("%s: decline: %v %v", id, res, err)
		}
		waitFor(t, 10*time.Second, id+" failed, the agent unavailable", func() bool {
			f, ok := has[*mediav1.DialFailed](events(t, env, "media-call-"+id))
			return ok && f.Outcome == mediav1.Outcome_OUTCOME_AGENT_UNAVAILABLE
		})
	}
	if trunk.invitesOf("b0") != 0 {
		t.Error("the contact was dialled for a declined call")
	}
}

type problem struct{ Field, Detail string }

func post(t *testing.T, url, body string) (*http.Response, problem) {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var p problem
	_ = json.NewDecoder(res.Body).Decode(&p)
	return res, p
}

// browserGateway is a gateway instance with browsers' phones, its
// signalling served at http.URL.
type browserGateway struct {
	*gateway
	phones *webphone.Phones
	http   *httptest.Server
	url    string
}

// startBrowserGateway is startGateway with the browsers' phones and their
// routes (an open platform: no agents file).
func startBrowserGateway(t *testing.T, env *servicetest.Env, id, trunk string) *browserGateway {
	t.Helper()
	log := env.Log.With("instance", id)
	phones, err := webphone.New(webphone.Config{Loopback: true, Links: rtplink.NewRegistry()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := sip.New(sip.Config{Listen: "127.0.0.1:0", Trunk: trunk, CallerID: "ringback", WebPhones: phones.Addr(), Links: phones.Links(),
		AgentRingTimeout: 10 * time.Second, ContactRingTimeout: 5 * time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg := mediagateway.Config{Trunk: trunk, CallerID: "ringback", AgentRingTimeout: 10 * time.Second,
		ContactRingTimeout: 5 * time.Second, InstanceID: id, LeaseTTL: testTTL, DrainGrace: 500 * time.Millisecond,
		Phone: mediagateway.PhoneConfig{URL: srv.URL}}
	reg := prometheus.NewRegistry()
	svc, err := mediagateway.New(cfg, mediagateway.Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: clock.Real{}, Log: log, Metrics: reg, Mux: mux}, Dialer: sip.Port{Gateway: gw}, Phones: phones})
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{t: t, id: id, svc: svc, sip: gw, sipDone: make(chan error, 1), registry: reg}
	sipCtx, stopSIP := context.WithCancel(context.Background())
	svcCtx, stopSvc := context.WithCancel(context.Background())
	phonesCtx, stopPhones := context.WithCancel(context.Background())
	phonesDone := make(chan error, 1)
	g.stopSIP, g.stopSvc = stopSIP, stopSvc
	g.svcExited = make(chan struct{})
	go func() { phonesDone <- phones.Run(phonesCtx) }()
	go func() { g.sipDone <- gw.Run(sipCtx) }()
	go func() {
		g.svcErr = svc.Run(svcCtx)
		close(g.svcExited)
	}()
	t.Cleanup(func() {
		g.stop()
		stopPhones()
		if err := <-phonesDone; err != nil {
			t.Error(err)
		}
	})
	return &browserGateway{gateway: g, phones: phones, http: srv, url: srv.URL}
}
