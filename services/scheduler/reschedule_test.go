package scheduler_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/availability"
	"github.com/ringback/ringback/libs/servicetest"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/scheduler"
	"github.com/ringback/ringback/services/scheduler/schedule"
)

// A contact's reschedule (PUT /v1/callbacks/{id}) moves the due time as an
// agent's does: the place moves to the new slot, and it falls due then.
func TestContactRescheduleMovesTheDueTime(t *testing.T) {
	env, _ := newEnv(t, scheduler.Config{ServiceSet: capacityServices(t)})
	q := "start=2026-11-25T10:00:00Z&end=2026-11-25T11:00:00Z"
	at1100, at1130 := time.Date(2026, 11, 25, 10, 10, 0, 0, time.UTC), time.Date(2026, 11, 25, 10, 40, 0, 0, time.UTC)
	id := request(env, "support", at1100)
	eventually(t, "scheduled", func() bool { return types(env, schedule.Stream(id)) == "CallbackScheduled" })
	env.Append("intake-callback-"+id, uuid.NewString(), &callbackv1.CallbackRescheduleRequested{CallbackId: id,
		DesiredTime: timestamppb.New(at1130), At: timestamppb.New(env.Clock.Now()), By: "crm", Reason: "rescheduled by the API client crm"})
	re := servicetest.WaitEvent[*callbackv1.CallbackRescheduled](env, schedule.Stream(id))
	if !re.DueAt.AsTime().Equal(at1130) || re.Reason != "rescheduled by the API client crm" {
		t.Fatalf("rescheduled: %v", re)
	}
	eventually(t, "its place in the 11:30 slot", func() bool {
		s := slotsOf(t, env, q).Slots
		return len(s) == 2 && s[0].Booked == 0 && s[1].Booked == 1
	})
	if n := len(env.Events(availability.Stream("support", at1130.Truncate(30*time.Minute)))); n != 1 {
		t.Fatalf("the 11:30 slot's stream holds %d events, want 1", n)
	}
	// Not at the old time; at the new one.
	advance(t, env, at1100.Sub(env.Clock.Now())+time.Minute)
	time.Sleep(50 * time.Millisecond)
	if got := types(env, schedule.Stream(id)); got != "CallbackScheduled,CallbackRescheduled" {
		t.Fatalf("at the old time: %s", got)
	}
	advance(t, env, at1130.Sub(env.Clock.Now()))
	if d := servicetest.WaitEvent[*callbackv1.CallbackDue](env, schedule.Stream(id)); !d.DueAt.AsTime().Equal(at1130) {
		t.Fatalf("due %v", d)
	}
}

// Outside office hours, the wish moves to the next opening, and says why.
func TestContactRescheduleKeepsToOfficeHours(t *testing.T) {
	env, _ := newEnv(t, scheduler.Config{ServiceSet: capacityServices(t)})
	id := request(env, "support", time.Date(2026, 11, 25, 10, 10, 0, 0, time.UTC))
	eventually(t, "scheduled", func() bool { return types(env, schedule.Stream(id)) == "CallbackScheduled" })
	// Saturday noon in Paris: closed until Monday 08:00.
	saturday := time.Date(2026, 11, 28, 11, 0, 0, 0, time.UTC)
	env.Append("intake-callback-"+id, uuid.NewString(), &callbackv1.CallbackRescheduleRequested{CallbackId: id,
		DesiredTime: timestamppb.New(saturday), At: timestamppb.New(env.Clock.Now())})
	re := servicetest.WaitEvent[*callbackv1.CallbackRescheduled](env, schedule.Stream(id))
	paris, _ := time.LoadLocation("Europe/Paris")
	if got := re.DueAt.AsTime().In(paris); got.Weekday() != time.Monday || got.Hour() != 8 || re.Reason != "rescheduled by the contact" {
		t.Fatalf("due %s: %v", got, re)
	}
}

// A contact's new time in a full slot of a service that moves such
// requests is moved to the nearest slot with room, and says why.
func TestContactRescheduleIntoAFullSlotMoves(t *testing.T) {
	env, _ := newEnv(t, scheduler.Config{ServiceSet: capacityServices(t)})
	at1100, at1130 := time.Date(2026, 11, 25, 10, 10, 0, 0, time.UTC), time.Date(2026, 11, 25, 10, 40, 0, 0, time.UTC)
	a, b, c := request(env, "support", at1130), request(env, "support", at1130), request(env, "support", at1100)
	for _, id := range []string{a, b, c} {
		eventually(t, "scheduled", func() bool { return types(env, schedule.Stream(id)) == "CallbackScheduled" })
	}
	env.Append("intake-callback-"+c, uuid.NewString(), &callbackv1.CallbackRescheduleRequested{CallbackId: c,
		DesiredTime: timestamppb.New(at1130.Add(5 * time.Minute)), At: timestamppb.New(env.Clock.Now())})
	re := servicetest.WaitEvent[*callbackv1.CallbackRescheduled](env, schedule.Stream(c))
	// 11:30 holds two of two: moved to the nearest slot with room.
	m := re.MovedByCapacity
	if m == nil || !re.DueAt.AsTime().Equal(m.SlotStart.AsTime()) || !m.From.AsTime().Equal(at1130.Add(5*time.Minute)) ||
		m.Reason != "slot Wed 25 Nov 11:30–12:00 Europe/Paris full (2 of 2): moved to Wed 25 Nov 12:00 Europe/Paris" {
		t.Fatalf("rescheduled: %v", re)
	}
	if n := len(env.Events(availability.Stream("support", at1130.Truncate(30*time.Minute)))); n != 2 {
		t.Fatalf("the full 11:30 slot's stream holds %d events, want its 2 takes", n)
	}
}
