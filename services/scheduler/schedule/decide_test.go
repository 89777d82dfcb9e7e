package schedule

import (
	"errors"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, whatever the machine has installed

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// t0 is a Wednesday, 09:00 UTC (10:00 in Paris).
var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func paris(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func request(desired *time.Time) *callbackv1.CallbackRequest {
	r := &callbackv1.CallbackRequest{Service: "support", PhoneNumber: "+33612345678", RequestedAt: timestamppb.New(t0)}
	if desired != nil {
		r.DesiredTime = timestamppb.New(*desired)
	}
	return r
}

func scheduled(r *callbackv1.CallbackRequest, due time.Time) *callbackv1.CallbackScheduled {
	return &callbackv1.CallbackScheduled{CallbackId: "c1", Request: r, DueAt: timestamppb.New(due)}
}

func due(r *callbackv1.CallbackRequest, at time.Time, n int) *callbackv1.CallbackDue {
	return &callbackv1.CallbackDue{CallbackId: "c1", Request: r, DueAt: timestamppb.New(at), InteractionId: InteractionID("c1", n),
		FirstDueAt: timestamppb.New(at)}
}

// firstDue sets when the callback first fell due, for a later firing.
func firstDue(d *callbackv1.CallbackDue, first time.Time) *callbackv1.CallbackDue {
	d.FirstDueAt = timestamppb.New(first)
	return d
}

func fold(events ...proto.Message) State {
	var s State
	for _, e := range events {
		s = Evolve(s, e)
	}
	return s
}

func TestDecide(t *testing.T) {
	loc := paris(t)
	weekdays := Hours{Loc: loc, Windows: []Window{{Days: [7]bool{false, true, true, true, true, true, false},
		Open: 8 * time.Hour, Close: 20 * time.Hour}}}
	later := t0.Add(2 * time.Hour)
	asap, future := request(nil), request(&later)
	saturday := time.Date(2026, 11, 28, 10, 0, 0, 0, loc)
	monday8 := time.Date(2026, 11, 30, 8, 0, 0, 0, loc)
	onSaturday := request(&saturday)
	cancelled := &callbackv1.CallbackUnscheduled{CallbackId: "c1", At: timestamppb.New(t0), Reason: "visitor"}

	cases := []struct {
		name    string
		given   []proto.Message
		when    Command
		want    []proto.Message
		wantErr error
	}{
		{"asap: scheduled and due at once", nil, Schedule{ID: "c1", Request: asap, At: t0},
			[]proto.Message{scheduled(asap, t0), due(asap, t0, 0)}, nil},
		{"future: scheduled only", nil, Schedule{ID: "c1", Request: future, At: t0},
			[]proto.Message{scheduled(future, later)}, nil},
		{"wish already past: due now", nil, Schedule{ID: "c1", Request: future, At: later.Add(time.Minute)},
			[]proto.Message{scheduled(future, later.Add(time.Minute)), due(future, later.Add(time.Minute), 0)}, nil},
		{"schedule twice: nothing", []proto.Message{scheduled(future, later)}, Schedule{ID: "c1", Request: future, At: t0}, nil, nil},
		{"schedule without id", nil, Schedule{Request: asap, At: t0}, nil, ErrNoID},
		{"office hours move a Saturday request to Monday 08:00", nil,
			Schedule{ID: "c1", Request: onSaturday, At: t0, Hours: weekdays},
			[]proto.Message{scheduled(onSaturday, monday8)}, nil},
		{"office hours keep a time inside them", nil, Schedule{ID: "c1", Request: future, At: t0, Hours: weekdays},
			[]proto.Message{scheduled(future, later)}, nil},
		{"asap outside office hours waits for the opening", nil,
			Schedule{ID: "c1", Request: asap, At: saturday, Hours: weekdays},
			[]proto.Message{scheduled(asap, monday8)}, nil},

		{"fire early: nothing", []proto.Message{scheduled(future, later)}, Fire{At: later.Add(-time.Nanosecond)}, nil, nil},
		{"fire on time: due", []proto.Message{scheduled(future, later)}, Fire{At: later}, []proto.Message{due(future, later, 0)}, nil},
		{"fire late: due at the scheduled time", []proto.Message{scheduled(future, later)}, Fire{At: later.Add(time.Hour)},
			[]proto.Message{due(future, later, 0)}, nil},
		{"fire twice: once", []proto.Message{scheduled(future, later), due(future, later, 0)}, Fire{At: later}, nil, nil},
		{"fire unknown: nothing", nil, Fire{At: later}, nil, nil},

		{"cancel pending", []proto.Message{scheduled(future, later)}, Cancel{ID: "c1", At: t0, Reason: "visitor"},
			[]proto.Message{cancelled}, nil},
		{"cancel then fire: nothing", []proto.Message{scheduled(future, later), cancelled}, Fire{At: later}, nil, nil},
		{"cancel before the request arrived", nil, Cancel{ID: "c1", At: t0, Reason: "visitor"}, []proto.Message{cancelled}, nil},
		{"request after its cancel: nothing", []proto.Message{cancelled}, Schedule{ID: "c1", Request: asap, At: t0}, nil, nil},
		{"cancel twice: nothing", []proto.Message{scheduled(future, later), cancelled}, Cancel{ID: "c1", At: t0}, nil, nil},
		{"cancel after due: the router's", []proto.Message{scheduled(asap, t0), due(asap, t0, 0)}, Cancel{ID: "c1", At: t0}, nil, nil},
		{"cancel without id", nil, Cancel{At: t0}, nil, ErrNoID},

		{"reschedule pending", []proto.Message{scheduled(future, later)},
			Reschedule{DueAt: later.Add(time.Hour), At: t0, Reason: "busy"},
			[]proto.Message{&callbackv1.CallbackRescheduled{CallbackId: "c1", DueAt: timestamppb.New(later.Add(time.Hour)), Reason: "busy"}}, nil},
		{"reschedule to the same time: nothing", []proto.Message{scheduled(future, later)}, Reschedule{DueAt: later, At: t0}, nil, nil},
		{"reschedule after due to now: due again with a new interaction",
			[]proto.Message{scheduled(asap, t0), due(asap, t0, 0)}, Reschedule{At: later, Reason: "no answer"},
			[]proto.Message{&callbackv1.CallbackRescheduled{CallbackId: "c1", DueAt: timestamppb.New(later), Reason: "no answer"},
				firstDue(due(asap, later, 1), t0)}, nil},
		// The contact moves a callback only until an agent takes it; once
		// it is due, as the router withdrew its interaction for the move.
		{"contact reschedules a queued one: as the router withdrew it", []proto.Message{scheduled(asap, t0), due(asap, t0, 0)},
			Reschedule{DueAt: later, At: t0, Reason: "rescheduled by the visitor", Contact: true, Withdrawn: InteractionID("c1", 0)},
			[]proto.Message{&callbackv1.CallbackRescheduled{CallbackId: "c1", DueAt: timestamppb.New(later), Reason: "rescheduled by the visitor"}}, nil},
		{"contact reschedules a queued one: the router is asked first", []proto.Message{scheduled(asap, t0), due(asap, t0, 0)},
			Reschedule{DueAt: later, At: t0, Reason: "rescheduled by the visitor", Contact: true},
			[]proto.Message{&callbackv1.CallbackMoveAsked{CallbackId: "c1", InteractionId: InteractionID("c1", 0), At: timestamppb.New(t0),
				Move: &callbackv1.CallbackRescheduleRequested{CallbackId: "c1", DesiredTime: timestamppb.New(later), At: timestamppb.New(t0),
					Reason: "rescheduled by the visitor"}}}, nil},
		{"a supervisor reassigns a queued one: the router is asked first", []proto.Message{scheduled(asap, t0), due(asap, t0, 0)},
			Reschedule{At: t0, Reason: "reassigned", Personal: "bob", Contact: true},
			[]proto.Message{&callbackv1.CallbackMoveAsked{CallbackId: "c1", InteractionId: InteractionID("c1", 0), At: timestamppb.New(t0),
				Move: &callbackv1.CallbackRescheduleRequested{CallbackId: "c1", At: timestamppb.New(t0), Reason: "reassigned", PersonalAgent: "bob"}}}, nil},
		{"the router withdrew an older interaction: nothing", []proto.Message{scheduled(asap, t0), due(asap, t0, 0),
			&callbackv1.CallbackRescheduled{CallbackId: "c1", DueAt: timestamppb.New(t0), Reason: "no answer"}, firstDue(due(asap, t0, 1), t0)},
			Reschedule{DueAt: later, At: t0, Contact: true, Withdrawn: InteractionID("c1", 0)}, nil, nil},
		{"told on by the router for one not due: nothing (moved as asked)", []proto.Message{scheduled(future, later)},
			Reschedule{DueAt: later.Add(time.Hour), At: t0, Contact: true, Withdrawn: InteractionID("c1", 0)}, nil, nil},
		{"contact reschedules into a full slot: moved", []proto.Message{scheduled(future, later)},
			Reschedule{DueAt: later.Add(time.Hour), At: t0, Reason: "rescheduled by the visitor", Contact: true,
				Moved: &callbackv1.CapacityMove{SlotStart: timestamppb.New(later.Add(2 * time.Hour)), Reason: "full"}},
			[]proto.Message{&callbackv1.CallbackRescheduled{CallbackId: "c1", DueAt: timestamppb.New(later.Add(2 * time.Hour)),
				Reason: "rescheduled by the visitor", MovedByCapacity: &callbackv1.CapacityMove{SlotStart: timestamppb.New(later.Add(2 * time.Hour)), Reason: "full"}}}, nil},
		{"contact reschedules one an agent took", []proto.Message{scheduled(asap, t0), due(asap, t0, 0),
			&callbackv1.CallbackAccepted{CallbackId: "c1", InteractionId: InteractionID("c1", 0), AgentId: "a1"}},
			Reschedule{DueAt: later, At: t0, Contact: true}, nil, ErrAccepted},
		{"an agent reschedules the one they took", []proto.Message{scheduled(asap, t0), due(asap, t0, 0),
			&callbackv1.CallbackAccepted{CallbackId: "c1", InteractionId: InteractionID("c1", 0), AgentId: "a1"}},
			Reschedule{DueAt: later, At: t0, Reason: "by agent"},
			[]proto.Message{&callbackv1.CallbackRescheduled{CallbackId: "c1", DueAt: timestamppb.New(later), Reason: "by agent"}}, nil},
		{"reschedule unknown", nil, Reschedule{At: t0}, nil, ErrNotScheduled},
		{"reschedule cancelled", []proto.Message{scheduled(future, later), cancelled}, Reschedule{At: t0}, nil, ErrCancelled},

		{"accepted: noted", []proto.Message{scheduled(asap, t0), due(asap, t0, 0)}, NoteAccepted{InteractionID: "i1", Agent: "a1", At: t0},
			[]proto.Message{&callbackv1.CallbackAccepted{CallbackId: "c1", InteractionId: "i1", AgentId: "a1", At: timestamppb.New(t0)}}, nil},
		{"accepted again by the same agent: nothing", []proto.Message{scheduled(asap, t0), due(asap, t0, 0),
			&callbackv1.CallbackAccepted{CallbackId: "c1", InteractionId: "i1", AgentId: "a1"}}, NoteAccepted{InteractionID: "i1", Agent: "a1", At: t0}, nil, nil},
		{"accepted by another after a reschedule", []proto.Message{scheduled(asap, t0), due(asap, t0, 0),
			&callbackv1.CallbackAccepted{CallbackId: "c1", AgentId: "a1"}}, NoteAccepted{InteractionID: "i2", Agent: "a2", At: t0},
			[]proto.Message{&callbackv1.CallbackAccepted{CallbackId: "c1", InteractionId: "i2", AgentId: "a2", At: timestamppb.New(t0)}}, nil},
		{"accepted, unknown callback: nothing", nil, NoteAccepted{InteractionID: "i1", Agent: "a1", At: t0}, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decide(fold(c.given...), c.when)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d events %v, want %d %v", len(got), got, len(c.want), c.want)
			}
			for i := range got {
				if !proto.Equal(got[i], c.want[i]) {
					t.Errorf("event %d = %v, want %v", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestEvolveTracksStatus(t *testing.T) {
	later := t0.Add(time.Hour)
	r := request(&later)
	s := fold(scheduled(r, later))
	if s.Status != Pending || !s.DueAt.Equal(later) || s.ID != "c1" {
		t.Fatalf("after scheduled: %+v", s)
	}
	s = Evolve(s, due(r, later, 0))
	if s.Status != Fired || s.Fired != 1 {
		t.Fatalf("after due: %+v", s)
	}
	// A rescheduled event alone makes a pending state: the read model of
	// pending callbacks relies on it.
	if s := fold(&callbackv1.CallbackRescheduled{CallbackId: "c2", DueAt: timestamppb.New(later)}); s.Status != Pending || s.ID != "c2" {
		t.Fatalf("rescheduled alone: %+v", s)
	}
}

func TestInteractionIDIsStable(t *testing.T) {
	if first, again := InteractionID("c1", 0), InteractionID("c1", 0); first != again {
		t.Fatal("not deterministic")
	}
	if InteractionID("c1", 0) == InteractionID("c1", 1) || InteractionID("c1", 0) == InteractionID("c2", 0) {
		t.Fatal("not distinct")
	}
}
