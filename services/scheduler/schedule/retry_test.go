package schedule

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/callwindow"
	"github.com/ringback/ringback/libs/serviceconf"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

func TestRetry(t *testing.T) {
	busy := serviceconf.Policy{Attempts: 3, Delay: 5 * time.Minute, Backoff: 2, Then: serviceconf.ThenScheduler}
	r := request(nil)
	fired := fold(scheduled(r, t0), due(r, t0, 0))
	refired := fold(scheduled(r, t0), due(r, t0, 0),
		&callbackv1.CallbackRescheduled{CallbackId: "c1", DueAt: timestamppb.New(t0.Add(5 * time.Minute)),
			Retry: &callbackv1.Retry{Outcome: "busy", Attempt: 2, Max: 3}},
		due(r, t0.Add(5*time.Minute), 1))
	// 20:55 in Paris: the retry's 21:05 is outside the 08:00-21:00 window.
	late := time.Date(2026, 11, 25, 19, 55, 0, 0, time.UTC)
	cases := []struct {
		name     string
		s        State
		c        Retry
		wantDue  time.Time // zero: no event
		wantDueN int       // CallbackDue events wanted
		reason   string
	}{
		{"first retry after the delay", fired, Retry{InteractionID: InteractionID("c1", 0), Outcome: "busy", Attempts: 1, Policy: busy, At: t0},
			t0.Add(5 * time.Minute), 0, "busy: attempt 2 of 3 after 5m0s"},
		{"second retry grows", refired, Retry{InteractionID: InteractionID("c1", 1), Outcome: "busy", Attempts: 2, Policy: busy, At: t0.Add(6 * time.Minute)},
			t0.Add(16 * time.Minute), 0, "busy: attempt 3 of 3 after 10m0s"},
		{"attempts used: nothing", refired, Retry{InteractionID: InteractionID("c1", 1), Outcome: "busy", Attempts: 3, Policy: busy, At: t0}, time.Time{}, 0, ""},
		{"late word about an earlier interaction", refired, Retry{InteractionID: InteractionID("c1", 0), Outcome: "busy", Attempts: 1, Policy: busy, At: t0}, time.Time{}, 0, ""},
		{"not fired", fold(scheduled(r, t0.Add(time.Hour))), Retry{InteractionID: InteractionID("c1", 0), Outcome: "busy", Attempts: 1, Policy: busy, At: t0}, time.Time{}, 0, ""},
		{"zero delay falls due at once", fired, Retry{InteractionID: InteractionID("c1", 0), Outcome: "busy", Attempts: 1,
			Policy: serviceconf.Policy{Attempts: 2, Backoff: 1}, At: t0}, t0, 1, "busy: attempt 2 of 2 after 0s"},
		{"window moves the retry", fired, Retry{InteractionID: InteractionID("c1", 0), Outcome: "no_answer", Attempts: 1, Policy: busy, At: late,
			Window: callwindow.Default}, time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC), 0, "no_answer: attempt 2 of 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, err := Decide(c.s, c.c)
			if err != nil {
				t.Fatal(err)
			}
			if c.wantDue.IsZero() {
				if len(evs) != 0 {
					t.Fatalf("want nothing, got %v", evs)
				}
				return
			}
			if len(evs) != 1+c.wantDueN {
				t.Fatalf("got %d events %v", len(evs), evs)
			}
			e := evs[0].(*callbackv1.CallbackRescheduled)
			if !e.DueAt.AsTime().Equal(c.wantDue) || !strings.Contains(e.Reason, c.reason) {
				t.Errorf("due %s reason %q, want %s %q", e.DueAt.AsTime(), e.Reason, c.wantDue, c.reason)
			}
			if e.Retry.Attempt != int32(c.c.Attempts+1) {
				t.Errorf("attempt %d", e.Retry.Attempt)
			}
			after := fold(append(events(c.s), evs...)...)
			if c.wantDueN == 1 {
				d := evs[1].(*callbackv1.CallbackDue)
				if d.Attempts != int32(c.c.Attempts) || !d.FirstDueAt.AsTime().Equal(t0) {
					t.Errorf("due carries attempts %d first %s", d.Attempts, d.FirstDueAt.AsTime())
				}
			} else if after.Status != Pending || after.Attempts != c.c.Attempts {
				t.Errorf("after: %v attempts %d", after.Status, after.Attempts)
			}
		})
	}
}

// events rebuilds a state's history for the fold after a decision; the
// states of TestRetry are folds of these.
func events(s State) []proto.Message {
	r := s.Request
	out := []proto.Message{scheduled(r, t0)}
	for n := range s.Fired {
		if n == 1 {
			out = append(out, &callbackv1.CallbackRescheduled{CallbackId: "c1", DueAt: timestamppb.New(t0.Add(5 * time.Minute)),
				Retry: &callbackv1.Retry{Outcome: "busy", Attempt: 2, Max: 3}})
		}
		out = append(out, due(r, t0.Add(time.Duration(n)*5*time.Minute), n))
	}
	return out
}

func TestExpire(t *testing.T) {
	r := request(nil)
	sched := scheduled(r, t0.Add(time.Hour))
	sched.ExpiresAt = timestamppb.New(t0.Add(24 * time.Hour))
	accepted := &callbackv1.CallbackAccepted{CallbackId: "c1", InteractionId: InteractionID("c1", 0), AgentId: "a1"}
	day := t0.Add(24 * time.Hour)
	cases := []struct {
		name        string
		s           State
		at          time.Time
		want        bool
		interaction string
	}{
		{"pending, in time", fold(sched), day.Add(-time.Second), false, ""},
		{"pending, expired", fold(sched), day, true, ""},
		{"queued, not accepted", fold(sched, due(r, t0.Add(time.Hour), 0)), day, true, InteractionID("c1", 0)},
		{"in an agent's hands", fold(sched, due(r, t0.Add(time.Hour), 0), accepted), day, false, ""},
		{"retried after it was accepted", fold(sched, due(r, t0.Add(time.Hour), 0), accepted,
			&callbackv1.CallbackRescheduled{CallbackId: "c1", DueAt: timestamppb.New(t0.Add(2 * time.Hour))}), day, true, ""},
		{"cancelled", fold(sched, &callbackv1.CallbackUnscheduled{CallbackId: "c1"}), day, false, ""},
		{"already expired", fold(sched, &callbackv1.CallbackExpired{CallbackId: "c1"}), day, false, ""},
		{"no time to live", fold(scheduled(r, t0)), day.Add(1000 * time.Hour), false, ""},
	}
	for _, c := range cases {
		evs, err := Decide(c.s, Expire{At: c.at})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(evs) == 1; got != c.want {
			t.Errorf("%s: expired %v, want %v", c.name, got, c.want)
			continue
		}
		if c.want {
			e := evs[0].(*callbackv1.CallbackExpired)
			if e.InteractionId != c.interaction || !strings.HasPrefix(e.Reason, "FAIL_EXPIRED") || !strings.Contains(e.Reason, day.Format(time.RFC3339)) {
				t.Errorf("%s: %v", c.name, e)
			}
		}
	}
	// A new request carries its expiry from the time it was made, or from
	// its wished time when later: booked ahead, it lives as long past it.
	evs, _ := Decide(State{}, Schedule{ID: "c1", Request: r, At: t0.Add(time.Minute), TTL: 2 * time.Hour})
	if e := evs[0].(*callbackv1.CallbackScheduled); !e.ExpiresAt.AsTime().Equal(t0.Add(2 * time.Hour)) {
		t.Errorf("expires at %s", e.ExpiresAt.AsTime())
	}
	ahead := request(nil)
	ahead.DesiredTime = timestamppb.New(t0.Add(5 * 24 * time.Hour))
	evs, _ = Decide(State{}, Schedule{ID: "c2", Request: ahead, At: t0.Add(time.Minute), TTL: 72 * time.Hour})
	if e := evs[0].(*callbackv1.CallbackScheduled); !e.ExpiresAt.AsTime().Equal(t0.Add(8 * 24 * time.Hour)) {
		t.Errorf("booked 5 days ahead with 3 days to live: expires at %s, want 3 days past its time", e.ExpiresAt.AsTime())
	}
	// Moved, it lives as long past its new time; moved to as soon as
	// possible, it keeps what it had.
	pending := fold(scheduled(r, t0), &callbackv1.CallbackRescheduled{CallbackId: "c1", DueAt: timestamppb.New(t0.Add(2 * time.Hour)), ExpiresAt: timestamppb.New(day)})
	for _, c := range []struct {
		to, want time.Time
	}{{t0.Add(48 * time.Hour), t0.Add(72 * time.Hour)}, {t0.Add(time.Hour), t0.Add(25 * time.Hour)}, {time.Time{}, day}} {
		evs, err := Decide(pending, Reschedule{DueAt: c.to, At: t0, Contact: true, TTL: 24 * time.Hour})
		if err != nil || len(evs) == 0 {
			t.Fatalf("reschedule to %s: %v %v", c.to, evs, err)
		}
		if got := evs[0].(*callbackv1.CallbackRescheduled).ExpiresAt.AsTime(); !got.Equal(c.want) {
			t.Errorf("moved to %s: expires at %s, want %s", c.to, got, c.want)
		}
	}
}

// A personal reschedule says whose it is, and its firing carries it, for
// the router to keep it for that agent; a later plain reschedule ends it.
func TestPersonalReschedule(t *testing.T) {
	r := request(nil)
	fired := fold(scheduled(r, t0), due(r, t0, 0))
	evs, err := Decide(fired, Reschedule{DueAt: t0.Add(time.Hour), At: t0, Personal: "a1", Reason: "rescheduled by agent a1 as a personal callback"})
	if err != nil || len(evs) != 1 || evs[0].(*callbackv1.CallbackRescheduled).PersonalAgent != "a1" {
		t.Fatalf("%v %v", evs, err)
	}
	st := fold(scheduled(r, t0), due(r, t0, 0), evs[0])
	fire, _ := Decide(st, Fire{At: t0.Add(time.Hour)})
	if d := fire[0].(*callbackv1.CallbackDue); d.PersonalAgent != "a1" {
		t.Fatalf("due %v", d)
	}
	plain, _ := Decide(st, Reschedule{DueAt: t0.Add(2 * time.Hour), At: t0})
	if after := fold(scheduled(r, t0), due(r, t0, 0), evs[0], plain[0]); after.PersonalAgent != "" {
		t.Fatalf("a plain reschedule kept %q", after.PersonalAgent)
	}
}

// A supervisor's reassign is a personal reschedule to now: it falls due at
// once, for the chosen agent.
func TestReassignFallsDueForTheAgent(t *testing.T) {
	r := request(nil)
	fired := fold(scheduled(r, t0), due(r, t0, 0))
	evs, err := Decide(fired, Reschedule{At: t0.Add(time.Minute), Personal: "bob", Contact: true, Withdrawn: InteractionID("c1", 0), Reason: "reassigned by supervisor sue to agent bob: VIP"})
	if err != nil || len(evs) != 2 {
		t.Fatalf("%v %v", evs, err)
	}
	if d, ok := evs[1].(*callbackv1.CallbackDue); !ok || d.PersonalAgent != "bob" || !d.DueAt.AsTime().Equal(t0.Add(time.Minute)) {
		t.Fatalf("due %v", evs[1])
	}
}
