package intake

import (
	"net/http"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/availability"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/libs/servicetest"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// A wished time in a full or closed slot of a service that refuses those
// is answered 409 naming desired_time, with the nearest free slots, and
// nothing is stored; a free slot is accepted.
func TestFullOrClosedSlotIsRefusedWithTheNearestFreeSlots(t *testing.T) {
	set, err := serviceconf.Parse([]byte(`
services:
  support:
    office_hours: {zone: Europe/Paris, open: ["Mon-Fri 08:00-20:00"]}
    calling_window: "00:00-24:00"
    capacity: {bucket: 30m, per_bucket: 1, when_full: refuse}
`), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	env := servicetest.New(t)
	s, err := New(Config{RefuseDuplicates: true, ServiceSet: set}, Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
	if err != nil {
		t.Fatal(err)
	}
	env.Go(s.Run)
	// servicetest.Start is Wed 25 Nov 10:00 in Paris: 14:00 and 14:30 are
	// taken (the scheduler's streams, as it writes them).
	paris, _ := time.LoadLocation("Europe/Paris")
	for i, hm := range []int{14*60 + 0, 14*60 + 30} {
		bucket := time.Date(2026, 11, 25, 0, hm, 0, 0, paris)
		env.Append(availability.Stream("support", bucket), "take-"+bucket.String(),
			&callbackv1.SlotTaken{CallbackId: []string{"a", "b"}[i], Take: 1})
	}
	stored := env.Stored()
	type refusal struct {
		problem
		Slots []availability.SlotView `json:"slots"`
	}
	for _, c := range []struct {
		name, wish, timezone, reason string
		slots                        []string // starts, RFC 3339
	}{
		{"full", "2026-11-25T14:10:00+01:00", "", "that slot is full (1 of 1): choose one of the slots offered",
			// 13:30 is 40 minutes from 14:10, 15:00 50, 13:00 70, 15:30 80, 12:30 100.
			[]string{"2026-11-25T12:30:00+01:00", "2026-11-25T13:00:00+01:00", "2026-11-25T13:30:00+01:00", "2026-11-25T15:00:00+01:00", "2026-11-25T15:30:00+01:00"}},
		{"closed on Saturday, shown in the contact's zone", "2026-11-28T10:00:00+01:00", "America/New_York", "the service is closed then: choose one of the slots offered",
			// Friday evening in Paris is nearer than Monday morning.
			[]string{"2026-11-27T11:30:00-05:00", "2026-11-27T12:00:00-05:00", "2026-11-27T12:30:00-05:00", "2026-11-27T13:00:00-05:00", "2026-11-27T13:30:00-05:00"}},
	} {
		var p refusal
		res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+33612345678",
			"desired_time": c.wish, "timezone": c.timezone}, &p)
		if res.StatusCode != http.StatusConflict || p.Field != "desired_time" || p.Detail != c.reason ||
			res.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s: %d %+v", c.name, res.StatusCode, p)
		}
		var got []string
		for _, sl := range p.Slots {
			got = append(got, sl.Start.Format(time.RFC3339))
			if sl.Free != 1 || sl.Capacity != 1 {
				t.Errorf("%s: slot %+v", c.name, sl)
			}
		}
		if len(got) != len(c.slots) {
			t.Fatalf("%s: slots %v, want %v", c.name, got, c.slots)
		}
		for i := range got {
			if got[i] != c.slots[i] {
				t.Fatalf("%s: slots %v, want %v", c.name, got, c.slots)
			}
		}
	}
	if n := env.Stored(); n != stored {
		t.Fatalf("refused requests stored %d events", n-stored)
	}
	body := map[string]any{"service": "support", "phone_number": "+33612345678", "desired_time": "2026-11-25T15:00:00+01:00"}
	key := map[string]string{"Idempotency-Key": "visit-42"}
	var cb callbackView
	if res := env.DoWith("POST", "/v1/callbacks", key, body, &cb); res.StatusCode != http.StatusCreated {
		t.Fatalf("free slot: %d", res.StatusCode)
	}
	// The scheduler gives it the last place of 15:00; the visitor's
	// browser retries the POST: it is answered with its callback.
	env.Append(availability.Stream("support", time.Date(2026, 11, 25, 15, 0, 0, 0, paris)), "take-15:00",
		&callbackv1.SlotTaken{CallbackId: cb.ID, Take: 1})
	var again callbackView
	if res := env.DoWith("POST", "/v1/callbacks", key, body, &again); res.StatusCode != http.StatusOK || again.ID != cb.ID {
		t.Fatalf("retried POST: %d %q, want 200 %q", res.StatusCode, again.ID, cb.ID)
	}
}
