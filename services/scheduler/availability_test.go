package scheduler_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/availability"
	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/scheduler"
	"github.com/ringback/ringback/services/scheduler/schedule"
)

// capacityServices: support takes 2 callbacks per half hour in Paris
// (servicetest.Start, Wed 25 Nov 09:00 UTC, is 10:00 there); sales has no
// capacity.
func capacityServices(t *testing.T) *serviceconf.Set {
	t.Helper()
	set, err := serviceconf.Parse([]byte(`
services:
  support:
    office_hours: {zone: Europe/Paris, open: ["Mon-Fri 08:00-20:00"]}
    calling_window: "00:00-24:00"
    capacity: {bucket: 30m, per_bucket: 2, when_full: move}
  sales:
    calling_window: "00:00-24:00"
`), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

type availabilityAnswer struct {
	Service  string                  `json:"service"`
	Timezone string                  `json:"timezone"`
	Slots    []availability.SlotView `json:"slots"`
}

func slotsOf(t *testing.T, env *servicetest.Env, query string) availabilityAnswer {
	t.Helper()
	var a availabilityAnswer
	if code := env.Get("/v1/services/support/availability?"+query, &a); code != http.StatusOK {
		t.Fatalf("availability?%s: %d", query, code)
	}
	return a
}

func TestAvailabilityCountsBookingsAndMovesAFullSlot(t *testing.T) {
	env, _ := newEnv(t, scheduler.Config{ServiceSet: capacityServices(t)})
	q := "start=2026-11-25T10:00:00Z&end=2026-11-25T12:00:00Z&max=3"
	a := slotsOf(t, env, q)
	if a.Service != "support" || a.Timezone != "Europe/Paris" || len(a.Slots) != 3 || a.Slots[0].Start.Format(time.RFC3339) != "2026-11-25T11:00:00+01:00" ||
		a.Slots[0].Free != 2 {
		t.Fatalf("availability: %+v", a)
	}
	wish := time.Date(2026, 11, 25, 10, 10, 0, 0, time.UTC) // in the 11:00 Paris bucket
	first, second := request(env, "support", wish), request(env, "support", wish)
	for _, id := range []string{first, second} {
		eventually(t, "scheduled", func() bool { return types(env, schedule.Stream(id)) == "CallbackScheduled" })
	}
	eventually(t, "the 11:00 slot full", func() bool { return slotsOf(t, env, q).Slots[0].Start.Format("15:04") == "11:30" })

	// The third finds it full and is moved to the nearest slot with room:
	// 11:30 and 10:30 Paris are as near to 11:10; the later wins.
	third := request(env, "support", wish)
	eventually(t, "the third scheduled", func() bool { return types(env, schedule.Stream(third)) == "CallbackScheduled" })
	sched := env.Events(schedule.Stream(third))[0].(*callbackv1.CallbackScheduled)
	if got := sched.DueAt.AsTime(); !got.Equal(time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC)) || sched.MovedByCapacity == nil {
		t.Fatalf("third due %s, move %v", got, sched.MovedByCapacity)
	}
	t.Logf("history says: %s", sched.MovedByCapacity.Reason)
	if got := slotsOf(t, env, q).Slots[0]; got.Start.Format("15:04") != "11:30" || got.Booked != 1 || got.Free != 1 {
		t.Fatalf("11:30 slot: %+v", got)
	}

	// They fall due: their places are given back.
	advance(t, env, 90*time.Minute)
	for _, id := range []string{first, second, third} {
		eventually(t, "due", func() bool { return types(env, schedule.Stream(id)) == "CallbackScheduled,CallbackDue" })
	}
	eventually(t, "places released", func() bool {
		a := slotsOf(t, env, "end=2026-11-25T11:30:00Z") // from now, 10:30 UTC
		return len(a.Slots) == 2 && a.Slots[0].Booked == 0 && a.Slots[1].Booked == 0
	})
	// The 11:00 slot is past, so the list above does not show it: its
	// stream says when its two places are given back.
	slot := availability.Stream("support", wish.Truncate(30*time.Minute))
	eventually(t, "the 11:00 slot's places released", func() bool { return len(env.Events(slot)) >= 4 })
	if n := len(env.Events(slot)); n != 4 {
		t.Fatalf("the 11:00 slot's stream holds %d events, want 2 taken and 2 released", n)
	}
}

func TestAvailabilityParameters(t *testing.T) {
	env, _ := newEnv(t, scheduler.Config{ServiceSet: capacityServices(t)})
	for _, c := range []struct {
		service, query string
		status         int
		field          string
	}{
		{"support", "start=tomorrow", 400, "start"},
		{"support", "end=2026-11-25", 400, "end"},
		{"support", "start=2026-11-26T10:00:00Z&end=2026-11-26T09:00:00Z", 400, "end"},
		{"support", "end=2026-12-10T10:00:00Z", 400, "end"},     // more than 14 days
		{"support", "start=2027-01-01T00:00:00Z", 400, "start"}, // beyond book_ahead
		{"support", "max=0", 400, "max"},
		{"support", "max=1001", 400, "max"},
		{"support", "max=ten", 400, "max"},
		{"support", "timezone=Mars/Olympus_Mons", 400, "timezone"},
		{"support", "timezone=Local", 400, "timezone"},
		{"support", "max=1&max=2", 400, "max"},
		{"support", "color=blue", 400, "color"},
		{"Support!", "", 400, "service"},
		{"sales", "", 404, "service"},
		{"support", "max=1&timezone=America/New_York", 200, ""},
	} {
		res, err := http.Get(env.Server.URL + "/v1/services/" + url.PathEscape(c.service) + "/availability?" + c.query)
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Field string `json:"field"`
		}
		_ = json.NewDecoder(res.Body).Decode(&p)
		res.Body.Close()
		if res.StatusCode != c.status || p.Field != c.field {
			t.Errorf("%s?%s: %d field %q; want %d %q", c.service, c.query, res.StatusCode, p.Field, c.status, c.field)
		}
		if ct := res.Header.Get("Content-Type"); c.status != 200 && ct != "application/problem+json" {
			t.Errorf("%s?%s: Content-Type %q", c.service, c.query, ct)
		}
	}
}

func TestAvailabilityInTheContactsWindow(t *testing.T) {
	set, err := serviceconf.Parse([]byte(`
services:
  support:
    office_hours: {zone: Europe/Paris, open: ["Mon-Fri 08:00-20:00"]}
    calling_window: "09:00-21:00"
    capacity: {bucket: 60m, per_bucket: 1}
`), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := newEnv(t, scheduler.Config{ServiceSet: set, WindowGiven: false})
	// 09:00 in New York is 15:00 in Paris: the first slot a New Yorker may be called in.
	a := slotsOf(t, env, "max=1&timezone=America/New_York")
	if a.Timezone != "America/New_York" || len(a.Slots) != 1 || a.Slots[0].Start.Format(time.RFC3339) != "2026-11-25T09:00:00-05:00" {
		t.Fatalf("%+v", a)
	}
}

// An agent's reschedule is counted in its new slot, even a full one (the
// agent promised the contact that time), and leaves the old one.
func TestAgentRescheduleIsCountedInItsNewSlot(t *testing.T) {
	env, _ := newEnv(t, scheduler.Config{ServiceSet: capacityServices(t)})
	q := "start=2026-11-25T10:00:00Z&end=2026-11-25T11:00:00Z"
	at1100, at1130 := time.Date(2026, 11, 25, 10, 10, 0, 0, time.UTC), time.Date(2026, 11, 25, 10, 40, 0, 0, time.UTC)
	a, b, c := request(env, "support", at1130), request(env, "support", at1130), request(env, "support", at1100)
	for _, id := range []string{a, b, c} {
		eventually(t, "scheduled", func() bool { return types(env, schedule.Stream(id)) == "CallbackScheduled" })
	}
	eventually(t, "11:30 full", func() bool { return len(slotsOf(t, env, q).Slots) == 1 })
	env.Append("agent-session-a1", "reschedule-"+c, &agentv1.RescheduleRequested{CallbackId: c, AgentId: "a1", Time: timestamppb.New(at1130)})
	eventually(t, "rescheduled", func() bool { return types(env, schedule.Stream(c)) == "CallbackScheduled,CallbackRescheduled" })
	// 11:00 is free again, 11:30 holds three (over its two).
	eventually(t, "counted in its new slot", func() bool {
		s := slotsOf(t, env, q).Slots
		return len(s) == 1 && s[0].Start.Format("15:04") == "11:00" && s[0].Booked == 0
	})
	if n := len(env.Events(availability.Stream("support", at1130.Truncate(30*time.Minute)))); n != 3 {
		t.Fatalf("the 11:30 slot's stream holds %d events, want 3 taken", n)
	}
}
