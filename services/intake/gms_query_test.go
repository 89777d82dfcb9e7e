package intake

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/availability"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/gms"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/libs/servicetest"
)

// countingStore counts the reads and appends a request makes.
type countingStore struct {
	eventstore.Store
	reads, appends atomic.Int64
}

func (c *countingStore) ReadStream(ctx context.Context, stream string, from eventstore.Revision) ([]eventstore.RecordedEvent, error) {
	c.reads.Add(1)
	return c.Store.ReadStream(ctx, stream, from)
}

func (c *countingStore) Append(ctx context.Context, stream string, exp eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	c.appends.Add(1)
	return c.Store.Append(ctx, stream, exp, events...)
}

// A create through GMS costs the store what one through /v1 does: the
// translation reads nothing (the services file is in memory).
func TestGMSCreateCostsWhatV1Costs(t *testing.T) {
	set, err := serviceconf.Parse([]byte(gmsServices), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	env := servicetest.New(t)
	store := &countingStore{Store: env.Store}
	s, err := New(Config{RefuseDuplicates: true, ServiceSet: set, DefaultRegion: "US"},
		Deps{Deps: service.Deps{Store: store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
	if err != nil {
		t.Fatal(err)
	}
	env.Go(s.Run)
	cost := func(send func()) (int64, int64) {
		r, a := store.reads.Load(), store.appends.Load()
		send()
		return store.reads.Load() - r, store.appends.Load() - a
	}
	env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550140"}, nil) // loads the claims' key
	for i, c := range []struct {
		name      string
		v1        map[string]any
		form, key string
	}{
		{"as soon as possible", map[string]any{"service": "support", "phone_number": "+14155550141", "case_data": map[string]string{"order": "A-17"}},
			"_customer_number=%2B14155550142&order=A-17", ""},
		{"scheduled, with an Idempotency-Key", map[string]any{"service": "support", "phone_number": "+14155550143", "desired_time": "2026-11-25T15:00:00Z"},
			"_customer_number=%2B14155550144&_desired_time=2026-11-25T16:00:00.000Z", "k"},
	} {
		var h map[string]string
		if c.key != "" {
			h = map[string]string{"Idempotency-Key": c.key + "-v1-" + strconv.Itoa(i)}
		}
		vr, va := cost(func() {
			if res := env.DoWith("POST", "/v1/callbacks", h, c.v1, nil); res.StatusCode != 201 {
				t.Fatalf("%s /v1: %d", c.name, res.StatusCode)
			}
		})
		if c.key != "" {
			h = map[string]string{"Idempotency-Key": c.key + "-gms-" + strconv.Itoa(i)}
		}
		gr, ga := cost(func() {
			if r := gmsSend(t, env, "POST", gmsBase+"support", form, c.form, h); r.status != 200 {
				t.Fatalf("%s GMS: %d %s", c.name, r.status, r.body)
			}
		})
		t.Logf("%s: /v1 %d reads %d appends; GMS %d reads %d appends", c.name, vr, va, gr, ga)
		if gr != vr || ga != va {
			t.Errorf("%s: GMS costs %d reads and %d appends, /v1 %d and %d", c.name, gr, ga, vr, va)
		}
	}
}

// Query by properties, as GMS's Callback Services API writes it: GMS's
// keys and the site's own, AND by default, OR with operand; newest first.
func TestGMSQueryByProperties(t *testing.T) {
	env := startGMS(t, "")
	create := func(service, body string) string {
		t.Helper()
		env.Clock.Advance(time.Minute) // newest first is by the time of request
		r := gmsSend(t, env, "POST", gmsBase+service, form, body, nil)
		if r.status != 200 {
			t.Fatalf("create %s: %d %s", body, r.status, r.body)
		}
		return r.fields["_id"].(string)
	}
	a := create("support", "_customer_number=%2B14155550151&order=A-17&vip=yes")
	b := create("support", "_customer_number=%2B14155550152&order=B-2")
	c := create("support", "_customer_number=%2B14155550153&order=A-17&_desired_time=2026-11-26T10:00:00.000Z")
	create("sales", "_customer_number=%2B14155550151&order=A-17") // another service's
	if r := gmsSend(t, env, "DELETE", gmsBase+"support/"+b, "", "", nil); r.status != 200 {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	for _, q := range []struct {
		query string
		want  []string
	}{
		{"", []string{c, b, a}},
		{"_customer_number=%2B14155550151", []string{a}},
		{"_customer_number=(415)%20555-0151", []string{a}}, // as the visitor typed it
		{"order=A-17", []string{c, a}},
		{"order=A-17&_callback_state=SCHEDULED", []string{c}},
		{"order=A-17&vip=yes", []string{a}},
		{"operand=AND&order=A-17&_customer_number=%2B14155550152", nil},
		{"operand=OR&order=B-2&_customer_number=%2B14155550151", []string{b, a}},
		{"operand=or&vip=yes&_callback_state=SCHEDULED", []string{c, a}},
		{"_callback_state=COMPLETED", []string{b}},
		{"_callback_state=ROUTING", nil},
		{"_id=" + a, []string{a}},
		{"order=Z-9", nil},
	} {
		r := gmsSend(t, env, "GET", gmsBase+"support?"+q.query, "", "", nil)
		var got []map[string]string
		if err := json.Unmarshal(r.body, &got); r.status != 200 || err != nil || got == nil {
			t.Errorf("?%s: %d %s", q.query, r.status, r.body)
			continue
		}
		var ids []string
		for _, rec := range got {
			ids = append(ids, rec["_id"])
			if rec["_service_name"] != "support" || rec["_customer_number"] == "" {
				t.Errorf("?%s: %v", q.query, rec)
			}
		}
		if strings.Join(ids, ",") != strings.Join(q.want, ",") {
			t.Errorf("?%s: %v, want %v", q.query, ids, q.want)
		}
		if q.query == "_callback_state=COMPLETED" && got[0]["_callback_reason"] != "CANCELLED" {
			t.Errorf("cancelled: %v", got[0])
		}
	}
	for _, c := range []struct{ path, field string }{
		{"support?operand=XOR", "operand"},
		{"support?_callback_state=DONE", "_callback_state"},
		{"support?_ors=http://ors", "_ors"},
		{"support?_customer_number=call+me", "_customer_number"},
		{"support?order=1&order=2", "order"},
		{"nosuch?order=1", "service"},
	} {
		if r := gmsSend(t, env, "GET", gmsBase+c.path, "", "", nil); r.fields["field"] != c.field || r.status/100 != 4 {
			t.Errorf("%s: %d %s", c.path, r.status, r.body)
		}
	}
}

// Our shared paths' problems in GMS's shape and names.
func TestGMSErrorOfAProblem(t *testing.T) {
	slot := availability.SlotView{Start: servicetest.Start, Free: 2}
	full := httpx.Conflict("that slot is full")
	full.Field = "desired_time"
	unknown := httpx.NotFound("unknown service")
	unknown.Field = "service"
	for _, c := range []struct {
		p                *httpx.Problem
		names            map[string]string
		field, exception string
		proposed         int
	}{
		{httpx.BadField("phone_number", "x"), gmsCreateNames, "_customer_number", gms.ExceptionCallback, 0},
		{httpx.BadField("desired_time", "x"), gmsRescheduleNames, "_new_desired_time", gms.ExceptionCallback, 0},
		{httpx.BadField("case_data.order", "x"), gmsCreateNames, "order", gms.ExceptionCallback, 0},
		{httpx.Unprocessable("Idempotency-Key", "x"), gmsCreateNames, "Idempotency-Key", gms.ExceptionCallback, 0},
		{full.With("slots", []availability.SlotView{slot}), gmsCreateNames, "_desired_time", gms.ExceptionAvailability, 1},
		{unknown, gmsCreateNames, "service", gms.ExceptionResource, 0},
	} {
		e := gms.FromProblem(c.p, c.names)
		if e.Status != c.p.Status || e.Code != c.p.Status || e.Field != c.field || e.Exception != c.exception ||
			len(e.Availability) != c.proposed || e.Message != c.p.Detail {
			t.Errorf("%+v: %+v", c.p, e)
		}
	}
}
