package intake

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/libs/personal"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
)

// TestCallbackAt (issue 14, time travel): GET /v1/callbacks/{id}?at= answers
// the callback as it was then, in the live answer's shape, with the moment
// and its last event in headers; a bad moment is a 400 naming at, one before
// the callback a 404; an erased contact reads [erased] in the past too.
func TestCallbackAt(t *testing.T) {
	env := servicetest.New(t)
	sealer := env.Seal(t)
	s, err := New(Config{}, Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: prometheus.NewRegistry(), Mux: env.Mux}, ContactKeys: sealer})
	if err != nil {
		t.Fatal(err)
	}
	env.Go(s.Run)

	const number = "+33612345601"
	before := env.Clock.Now().Add(-time.Second)
	var made callbackView
	if res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": number, "subject": "invoice"}, &made); res.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d", res.StatusCode)
	}
	created := env.Clock.Now()
	env.Clock.Advance(time.Minute)
	if res := env.Do("DELETE", "/v1/callbacks/"+made.ID, nil, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d", res.StatusCode)
	}
	env.Clock.Advance(time.Minute)

	path := func(at time.Time) string {
		return "/v1/callbacks/" + made.ID + "?at=" + url.QueryEscape(at.Format(time.RFC3339Nano))
	}
	raw := func(p string) (*http.Response, map[string]any) {
		var m map[string]any
		res := env.Do("GET", p, nil, &m)
		return res, m
	}
	var then callbackView
	res := env.Do("GET", path(created.Add(30*time.Second)), nil, &then)
	if res.StatusCode != http.StatusOK || then.State == "CANCELLED" || then.State == "" || then.PhoneNumber != number || then.Subject != "invoice" {
		t.Fatalf("between create and cancel: %d %+v", res.StatusCode, then)
	}
	if res.Header.Get("Ringback-As-Of") == "" || res.Header.Get("Ringback-As-Of-Revision") == "" ||
		res.Header.Get("Ringback-Position") == "" {
		t.Fatalf("headers: %v", res.Header)
	}
	if ev, err := time.Parse(time.RFC3339Nano, res.Header.Get("Ringback-As-Of-Event-Time")); err != nil || ev.After(created.Add(30*time.Second)) {
		t.Fatalf("last event time %q: %v", res.Header.Get("Ringback-As-Of-Event-Time"), err)
	}
	// Now, in the past and live alike: the same document.
	resNow, atNow := raw(path(env.Clock.Now()))
	resLive, live := raw("/v1/callbacks/" + made.ID)
	a, _ := json.Marshal(atNow)
	b, _ := json.Marshal(live)
	if resNow.StatusCode != 200 || resLive.StatusCode != 200 || !bytes.Equal(a, b) || live["state"] != "CANCELLED" {
		t.Fatalf("at now %d %s\nlive %d %s", resNow.StatusCode, a, resLive.StatusCode, b)
	}

	for _, tc := range []struct {
		query  string
		status int
		field  string
	}{
		{"?at=yesterday", 400, "at"},
		{"?at=" + url.QueryEscape(env.Clock.Now().Add(time.Hour).Format(time.RFC3339)), 400, "at"},
		{"?at=" + url.QueryEscape(before.Format(time.RFC3339Nano)), 404, ""},
	} {
		var p httpx.Problem
		if res := env.Do("GET", "/v1/callbacks/"+made.ID+tc.query, nil, &p); res.StatusCode != tc.status || p.Field != tc.field {
			t.Fatalf("%s: %d %+v", tc.query, res.StatusCode, p)
		}
	}
	var p httpx.Problem
	if res := env.Do("GET", "/v1/callbacks/3f2504e0-4f89-11d3-9a0c-0305e82c3301?at="+url.QueryEscape(created.Format(time.RFC3339)), nil, &p); res.StatusCode != 404 {
		t.Fatalf("unknown callback: %d %+v", res.StatusCode, p)
	}

	id, err := sealer.Erase(t.Context(), number)
	if err != nil {
		t.Fatal(err)
	}
	env.Append("history-erasure-"+id, "erase-"+id, &historyv1.ContactErased{KeyId: id, By: "s1", At: timestamppb.New(env.Clock.Now())})
	if res := env.Do("GET", path(created.Add(30*time.Second)), nil, &then); res.StatusCode != 200 || then.PhoneNumber != personal.Erased {
		t.Fatalf("erased, in the past: %d %+v", res.StatusCode, then)
	}
}

// TestCallbackAtIsAuthorisedAsLive: the past state of a callback is read
// under the live read's rules: 401 without a token, and for an agent it is
// not theirs the same 404 as an unknown callback, whatever the moment.
func TestCallbackAtIsAuthorisedAsLive(t *testing.T) {
	env := startWithAgents(t)
	var cb callbackView
	if res := env.DoWith("POST", "/v1/callbacks", map[string]string{"Idempotency-Key": "k-1"},
		map[string]any{"service": "support", "phone_number": "+14155550123"}, &cb); res.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d", res.StatusCode)
	}
	env.Clock.Advance(time.Minute)
	path := "/v1/callbacks/" + cb.ID + "?at=" + url.QueryEscape(env.Clock.Now().Add(-30*time.Second).Format(time.RFC3339))
	if res := env.DoWith("GET", path, nil, nil, nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %d", res.StatusCode)
	}
	var p httpx.Problem
	if res := env.DoWith("GET", path, servicetest.Bearer("a1"), nil, &p); res.StatusCode != http.StatusNotFound || p.Detail != "no callback "+cb.ID {
		t.Fatalf("an agent it is not offered to: %d %+v", res.StatusCode, p)
	}
}
