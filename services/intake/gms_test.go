package intake

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/availability"
	"github.com/ringback/ringback/libs/gms"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/libs/servicetest"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/intake/callback"
)

// gmsServices: support refuses a full 30-minute slot (one place), sales has
// no capacity; both keep callbacks two days.
const gmsServices = `
services:
  support:
    office_hours: {zone: Europe/Paris, open: ["Mon-Fri 08:00-20:00"]}
    calling_window: "00:00-24:00"
    capacity: {bucket: 30m, per_bucket: 1, when_full: refuse}
    time_to_live: 2d
  sales:
    calling_window: "00:00-24:00"
    time_to_live: 2d
`

func startGMS(t *testing.T, agentsFile string) *servicetest.Env {
	t.Helper()
	set, err := serviceconf.Parse([]byte(gmsServices), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	env := servicetest.New(t)
	s, err := New(Config{RefuseDuplicates: true, ServiceSet: set, DefaultRegion: "US", AgentsFile: agentsFile},
		Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
	if err != nil {
		t.Fatal(err)
	}
	env.Go(s.Run)
	env.Relay(Topics...)
	return env
}

type gmsReply struct {
	status int
	header http.Header
	body   []byte
	fields map[string]any
}

// gmsSend sends a request as a GMS site does: a form-encoded or JSON body
// (ctype says which; "" none).
func gmsSend(t *testing.T, env *servicetest.Env, method, path, ctype, body string, headers map[string]string) gmsReply {
	t.Helper()
	req, err := http.NewRequest(method, env.Server.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	r := gmsReply{status: res.StatusCode, header: res.Header}
	r.body, _ = io.ReadAll(res.Body)
	if len(r.body) > 0 && r.body[0] == '{' {
		if err := json.Unmarshal(r.body, &r.fields); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, r.body)
		}
	}
	return r
}

const (
	form     = "application/x-www-form-urlencoded"
	jsonType = "application/json"
	gmsBase  = "/genesys/1/service/callback/"
)

// TestGMSCreateAsGMSSitesSendIt is a table of create requests written as
// GMS's Callback Services API documentation and client libraries write
// them, and the answers ringback gives: GMS's 200 with _id, or GMS's error
// body naming the field in GMS's names, with nothing stored.
func TestGMSCreateAsGMSSitesSendIt(t *testing.T) {
	env := startGMS(t, "")
	// 14:00 Paris (13:00Z) is taken, as the scheduler writes it.
	paris, _ := time.LoadLocation("Europe/Paris")
	env.Append(availability.Stream("support", time.Date(2026, 11, 25, 14, 0, 0, 0, paris)), "take-1",
		&callbackv1.SlotTaken{CallbackId: "other", Take: 1})
	env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550199"}, nil)
	expires := gms.FormatTime(servicetest.Start.Add(48 * time.Hour))
	for _, c := range []struct {
		name, service, ctype, body string
		headers                    map[string]string
		status                     int
		want                       map[string]any // key fields of the answer
	}{
		{"form, as soon as possible, case data", "support", form, "_customer_number=%2B14155550101&first_name=Ann&order=A-17", nil,
			200, map[string]any{"_callback_state": "QUEUED", "_service_name": "support", "_expiration_time": expires,
				"_desired_time": "2026-11-25T09:00:00.000Z"}},
		{"form, an unencoded + (curl -d)", "sales", form, "_customer_number=+44 20 7123 4567", nil,
			200, map[string]any{"_callback_state": "QUEUED"}},
		{"form, a national number of the default country", "support", form, "_customer_number=(415)%20555-0102", nil,
			200, map[string]any{"_callback_state": "QUEUED"}},
		{"JSON, scheduled in UTC", "support", jsonType, `{"_customer_number":"+33 6 12 34 56 78","_desired_time":"2026-11-25T15:00:00.000Z","subject":"billing"}`, nil,
			200, map[string]any{"_callback_state": "SCHEDULED", "_desired_time": "2026-11-25T15:00:00.000Z"}},
		{"GMS plumbing keys are ignored", "sales", form, "_customer_number=%2B14155550103&_urs_virtual_queue=VQ_Sales&_media_type=voice", nil,
			200, map[string]any{"_callback_state": "QUEUED", "_service_name": "sales"}},
		{"an empty _desired_time is as soon as possible", "sales", form, "_customer_number=%2B14155550104&_desired_time=", nil,
			200, map[string]any{"_callback_state": "QUEUED"}},
		{"missing _customer_number", "support", form, "first_name=Ann", nil,
			400, map[string]any{"field": "_customer_number", "code": 400.0, "exception": gms.ExceptionCallback}},
		{"not a number", "support", form, "_customer_number=call+me", nil, 400, map[string]any{"field": "_customer_number"}},
		{"premium rate", "support", form, "_customer_number=%2B19005551234", nil, 400, map[string]any{"field": "_customer_number"}},
		{"bad _desired_time", "support", form, "_customer_number=%2B14155550105&_desired_time=tomorrow", nil,
			400, map[string]any{"field": "_desired_time"}},
		{"_desired_time without its zone", "support", jsonType, `{"_customer_number":"+14155550105","_desired_time":"2026-11-25T15:00:00"}`, nil,
			400, map[string]any{"field": "_desired_time"}},
		{"_desired_time in the past", "support", form, "_customer_number=%2B14155550105&_desired_time=2026-11-24T15:00:00.000Z", nil,
			400, map[string]any{"field": "_desired_time"}},
		{"a full slot proposes the free ones", "support", form, "_customer_number=%2B14155550105&_desired_time=2026-11-25T13:10:00.000Z", nil,
			409, map[string]any{"field": "_desired_time", "exception": gms.ExceptionAvailability}},
		{"a GMS key ringback does not do", "support", form, "_customer_number=%2B14155550105&_wait_for_user_confirm=true", nil,
			400, map[string]any{"field": "_wait_for_user_confirm"}},
		{"chat is not a callback by voice", "support", form, "_customer_number=%2B14155550105&_media_type=chat", nil,
			400, map[string]any{"field": "_media_type"}},
		{"a key given twice", "support", form, "_customer_number=%2B14155550105&order=1&order=2", nil, 400, map[string]any{"field": "order"}},
		{"a control character in a value", "support", form, "_customer_number=%2B14155550105&order=a%0D%0Ab", nil, 400, map[string]any{"field": "order"}},
		{"a JSON object as a value", "support", jsonType, `{"_customer_number":"+14155550105","cart":{"items":2}}`, nil, 400, map[string]any{"field": "cart"}},
		{"a number with an open callback", "support", form, "_customer_number=%2B14155550199", nil, 409, map[string]any{"field": "_customer_number"}},
		{"unknown service", "nosuch", form, "_customer_number=%2B14155550105", nil,
			404, map[string]any{"field": "service", "exception": gms.ExceptionResource}},
		{"neither a form nor JSON", "support", "text/plain", "_customer_number=%2B14155550105", nil, 415, map[string]any{"field": "Content-Type"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := env.Stored()
			r := gmsSend(t, env, "POST", gmsBase+c.service, c.ctype, c.body, c.headers)
			if r.status != c.status || r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %s %s, want %d", r.status, r.header.Get("Content-Type"), r.body, c.status)
			}
			for k, v := range c.want {
				if r.fields[k] != v {
					t.Errorf("%s = %v, want %v (%s)", k, r.fields[k], v, r.body)
				}
			}
			if c.status != 200 {
				if after := env.Stored(); after != before {
					t.Errorf("refused, yet %d events were stored", after-before)
				}
				return
			}
			id, _ := r.fields["_id"].(string)
			if id == "" || r.fields["_url"] != gmsBase+c.service+"/"+id || r.header.Get("Location") != r.fields["_url"] {
				t.Errorf("answer %s, Location %q", r.body, r.header.Get("Location"))
			}
			if _, ok := r.fields["_customer_number"]; ok {
				t.Errorf("the create answer shows the number: %s", r.body)
			}
		})
	}
	// The refused slot's answer proposes the nearest free ones, none of them
	// the full 13:00Z.
	r := gmsSend(t, env, "POST", gmsBase+"support", form, "_customer_number=%2B14155550106&_desired_time=2026-11-25T13:10:00.000Z", nil)
	proposed, _ := r.fields["availability"].(map[string]any)
	if len(proposed) != nearestSlots || proposed["2026-11-25T13:00:00.000Z"] != nil || proposed["2026-11-25T13:30:00.000Z"] != 1.0 {
		t.Errorf("proposed %v", r.fields["availability"])
	}
}

// The create through GMS and through /v1 are one: what one holds, the
// other sees; an Idempotency-Key retried answers the same callback.
func TestGMSCreateIsV1sCreate(t *testing.T) {
	env := startGMS(t, "")
	key := map[string]string{"Idempotency-Key": "gms-1"}
	first := gmsSend(t, env, "POST", gmsBase+"support", form, "_customer_number=%2B14155550111&order=A-17", key)
	again := gmsSend(t, env, "POST", gmsBase+"support", form, "_customer_number=%2B14155550111&order=A-17", key)
	if first.status != 200 || again.status != 200 || again.fields["_id"] != first.fields["_id"] {
		t.Fatalf("retry: %d %s; %d %s", first.status, first.body, again.status, again.body)
	}
	other := gmsSend(t, env, "POST", gmsBase+"support", form, "_customer_number=%2B14155550111&order=B-2", key)
	if other.status != 422 || other.fields["field"] != "Idempotency-Key" {
		t.Errorf("the key with another request: %d %s", other.status, other.body)
	}
	var cb callbackView
	if res := env.Do("GET", "/v1/callbacks/"+first.fields["_id"].(string), nil, &cb); res.StatusCode != 200 ||
		cb.PhoneNumber != "+14155550111" || cb.CaseData["order"] != "A-17" || cb.Service != "support" {
		t.Errorf("/v1 reads %d %+v", res.StatusCode, cb)
	}
	var p problem
	if res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550111"}, &p); res.StatusCode != 409 {
		t.Errorf("/v1 create of a number GMS holds: %d %+v", res.StatusCode, p)
	}
}

// Read, reschedule and cancel by id, as GMS's documentation writes them.
func TestGMSReadRescheduleCancel(t *testing.T) {
	env := startGMS(t, "")
	created := gmsSend(t, env, "POST", gmsBase+"support", form, "_customer_number=%2B14155550121&order=A-17&first_name=Ann", nil)
	id, _ := created.fields["_id"].(string)
	path := gmsBase + "support/" + id

	r := gmsSend(t, env, "GET", path, "", "", nil)
	want := map[string]any{"_id": id, "_callback_state": "QUEUED", "_service_name": "support", "_customer_number": "+14155550121",
		"order": "A-17", "first_name": "Ann", "_url": path, "_expiration_time": gms.FormatTime(servicetest.Start.Add(48 * time.Hour))}
	for k, v := range want {
		if r.fields[k] != v {
			t.Errorf("GET: %s = %v, want %v", k, r.fields[k], v)
		}
	}
	for _, p := range []string{gmsBase + "sales/" + id, gmsBase + "support/00000000-0000-4000-8000-000000000000", gmsBase + "support/nope"} {
		if r := gmsSend(t, env, "GET", p, "", "", nil); r.status != 404 {
			t.Errorf("GET %s: %d %s", p, r.status, r.body)
		}
	}

	for _, c := range []struct {
		name, ctype, body, field string
		status                   int
	}{
		{"no time", form, "", "_new_desired_time", 400},
		{"a bad time", form, "_new_desired_time=soon", "_new_desired_time", 400},
		{"a site's key cannot change", jsonType, `{"_new_desired_time":"2026-11-26T09:00:00.000Z","order":"B-2"}`, "order", 400},
		{"in the past", form, "_new_desired_time=2026-11-20T09:00:00.000Z", "_new_desired_time", 400},
	} {
		before := env.Stored()
		if r := gmsSend(t, env, "PUT", path, c.ctype, c.body, nil); r.status != c.status || r.fields["field"] != c.field {
			t.Errorf("PUT %s: %d %s", c.name, r.status, r.body)
		}
		if env.Stored() != before {
			t.Errorf("PUT %s: refused, yet stored", c.name)
		}
	}
	if r := gmsSend(t, env, "PUT", path, form, "_new_desired_time=2026-11-26T09:00:00.000Z", nil); r.status != 200 || len(r.body) != 0 {
		t.Fatalf("reschedule: %d %q", r.status, r.body)
	}
	r = gmsSend(t, env, "GET", path, "", "", nil)
	if r.fields["_callback_state"] != "SCHEDULED" || r.fields["_desired_time"] != "2026-11-26T09:00:00.000Z" {
		t.Errorf("after reschedule: %s", r.body)
	}

	if r := gmsSend(t, env, "DELETE", path, "", "", nil); r.status != 200 || len(r.body) != 0 {
		t.Fatalf("cancel: %d %q", r.status, r.body)
	}
	r = gmsSend(t, env, "GET", path, "", "", nil)
	if r.fields["_callback_state"] != "COMPLETED" || r.fields["_callback_reason"] != "CANCELLED" {
		t.Errorf("after cancel: %s", r.body)
	}
	if r := gmsSend(t, env, "DELETE", path, "", "", nil); r.status != 409 || r.fields["exception"] != gms.ExceptionCallback {
		t.Errorf("cancel twice: %d %s", r.status, r.body)
	}
	// Cancelled, the number may ask again.
	if r := gmsSend(t, env, "POST", gmsBase+"support", form, "_customer_number=%2B14155550121", nil); r.status != 200 {
		t.Errorf("after cancel: %d %s", r.status, r.body)
	}
}

// With agents on, a client reads the callbacks of its services only, and
// anything else is an unknown callback (404 problem+json, as on /v1).
func TestGMSByAPIClient(t *testing.T) {
	dir := t.TempDir()
	agents := filepath.Join(dir, "agents.json")
	if err := os.WriteFile(agents, []byte(`{"agents":[{"id":"a1","token":"a1-token"}],
 "clients":[{"id":"c1","key":"c1-key","services":["support"]},{"id":"c2","key":"c2-key","services":["sales"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := startGMS(t, agents)
	c1, c2 := map[string]string{"Authorization": "Bearer c1-key"}, map[string]string{"Authorization": "Bearer c2-key"}
	created := gmsSend(t, env, "POST", gmsBase+"support", form, "_customer_number=%2B14155550131", nil)
	if created.status != 200 {
		t.Fatalf("anonymous create: %d %s", created.status, created.body)
	}
	path := gmsBase + "support/" + created.fields["_id"].(string)
	if r := gmsSend(t, env, "GET", path, "", "", c1); r.status != 200 || r.fields["_customer_number"] != "+14155550131" {
		t.Errorf("its client: %d %s", r.status, r.body)
	}
	for _, c := range []struct {
		method  string
		headers map[string]string
		status  int
	}{{"GET", nil, 401}, {"GET", c2, 404}, {"DELETE", c2, 404}, {"PUT", c2, 404}, {"GET", map[string]string{"Authorization": "Bearer a1-token"}, 403}} {
		if r := gmsSend(t, env, c.method, path, form, "_new_desired_time=2026-11-26T09:00:00.000Z", c.headers); r.status != c.status ||
			r.header.Get("Content-Type") != "application/problem+json" || strings.Contains(string(r.body), "4155550131") {
			t.Errorf("%s as %v: %d %s %s", c.method, c.headers, r.status, r.header.Get("Content-Type"), r.body)
		}
	}
	if r := gmsSend(t, env, "POST", gmsBase+"support", form, "_customer_number=%2B14155550132", c2); r.status != 403 || r.fields["field"] != "service" {
		t.Errorf("client of sales creates for support: %d %s", r.status, r.body)
	}
}

func TestGMSStateMapping(t *testing.T) {
	for _, c := range []struct {
		status         callbackv1.CallbackState
		reason         string
		state, gReason string
	}{
		{callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED, "", "SCHEDULED", ""},
		{callbackv1.CallbackState_CALLBACK_STATE_QUEUED, "", "QUEUED", ""},
		{callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS, "", "PROCESSING", ""},
		{callbackv1.CallbackState_CALLBACK_STATE_COMPLETED, "", "COMPLETED", "AGENT_CONNECTED"},
		{callbackv1.CallbackState_CALLBACK_STATE_CANCELLED, "", "COMPLETED", "CANCELLED"},
		{callbackv1.CallbackState_CALLBACK_STATE_COMPLETED, "FAIL_EXPIRED", "COMPLETED", "FAIL_TIMEOUT_TTL"},
		{callbackv1.CallbackState_CALLBACK_STATE_COMPLETED, "FAIL_EXPIRED: not connected within its time to live of 72h0m0s", "COMPLETED", "FAIL_TIMEOUT_TTL"},
		{callbackv1.CallbackState_CALLBACK_STATE_COMPLETED, "FAIL_BUSY", "COMPLETED", "FAIL_CALL_TO_CUSTOMER"},
		{callbackv1.CallbackState_CALLBACK_STATE_COMPLETED, "FAIL_NO_ANSWER", "COMPLETED", "FAIL_CALL_TO_CUSTOMER"},
		{callbackv1.CallbackState_CALLBACK_STATE_COMPLETED, "FAIL_DISPOSITION", "COMPLETED", "FAIL_DISPOSITION"},
	} {
		state, reason := gmsState(callback.State{Status: c.status, Reason: c.reason})
		if state != c.state || reason != c.gReason {
			t.Errorf("%s %q: %s %s, want %s %s", c.status, c.reason, state, reason, c.state, c.gReason)
		}
	}
}
