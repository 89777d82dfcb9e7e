package callback

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

func TestReschedule(t *testing.T) {
	later, evenLater := t0.Add(time.Hour), t0.Add(3*time.Hour)
	changed := func(st callbackv1.CallbackState) *callbackv1.CallbackStateChanged {
		return &callbackv1.CallbackStateChanged{State: st, At: timestamppb.New(t0), InteractionId: "i1"}
	}
	cases := []struct {
		name       string
		given      []proto.Message
		when       Reschedule
		wantErr    error
		wantEvent  bool
		wantStatus callbackv1.CallbackState
	}{
		{"unknown", nil, Reschedule{DesiredTime: later, At: t0}, ErrNotFound, false, 0},
		{"voided", []proto.Message{voided}, Reschedule{DesiredTime: later, At: t0}, ErrNotFound, false, 0},
		{"queued to later", []proto.Message{requested(nil)}, Reschedule{DesiredTime: later, At: t0, By: "c1"}, nil, true,
			callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED},
		{"fell due, to later", []proto.Message{requested(nil), changed(callbackv1.CallbackState_CALLBACK_STATE_QUEUED)},
			Reschedule{DesiredTime: later, At: t0}, nil, true, callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED},
		{"scheduled to another time", []proto.Message{requested(&later)}, Reschedule{DesiredTime: evenLater, At: t0}, nil, true,
			callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED},
		{"scheduled to now", []proto.Message{requested(&later)}, Reschedule{DesiredTime: t0, At: t0}, nil, true,
			callbackv1.CallbackState_CALLBACK_STATE_QUEUED},
		{"reassigned to an agent, now", []proto.Message{requested(nil), changed(callbackv1.CallbackState_CALLBACK_STATE_QUEUED)},
			Reschedule{DesiredTime: t0, At: t0, By: "sup", Reason: "reassigned", Agent: "bob"}, nil, true, callbackv1.CallbackState_CALLBACK_STATE_QUEUED},
		{"the same time again: nothing", []proto.Message{requested(&later)}, Reschedule{DesiredTime: later, At: t0}, nil, false,
			callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED},
		{"in progress", []proto.Message{requested(nil), inProgress}, Reschedule{DesiredTime: later, At: t0}, ErrInProgress, false, 0},
		{"completed", []proto.Message{requested(nil), inProgress, changed(callbackv1.CallbackState_CALLBACK_STATE_COMPLETED)},
			Reschedule{DesiredTime: later, At: t0}, ErrFinal, false, 0},
		{"cancelled", []proto.Message{requested(&later), &callbackv1.CallbackCancelled{CallbackId: "c1", At: timestamppb.New(t0)}},
			Reschedule{DesiredTime: evenLater, At: t0}, ErrFinal, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := fold(c.given...)
			out, err := Decide(st, c.when)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err %v, want %v", err, c.wantErr)
			}
			if got := len(out) == 1; got != c.wantEvent || len(out) > 1 {
				t.Fatalf("events %v", out)
			}
			if !c.wantEvent {
				return
			}
			e := out[0].(*callbackv1.CallbackRescheduleRequested)
			if e.CallbackId != "c1" || !e.DesiredTime.AsTime().Equal(c.when.DesiredTime) || e.By != c.when.By || e.PersonalAgent != c.when.Agent {
				t.Fatalf("event %v", e)
			}
			after := Evolve(st, e)
			if after.Status != c.wantStatus || !after.Desired.Equal(c.when.DesiredTime) || !after.UpdatedAt.Equal(t0) {
				t.Fatalf("after: %s desired %s", after.Status, after.Desired)
			}
			if c.wantStatus == callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED && !after.ScheduledFor.Equal(c.when.DesiredTime) {
				t.Fatalf("scheduled for %s", after.ScheduledFor)
			}
			// The request stays as sent: a retried POST with its
			// Idempotency-Key still matches it.
			if !proto.Equal(after.Request, st.Request) {
				t.Fatal("the request was changed")
			}
		})
	}
}

func TestCheckDesired(t *testing.T) {
	const day = 24 * time.Hour
	cases := []struct {
		name      string
		desired   time.Time
		bookAhead time.Duration
		ok        bool
	}{
		{"now", t0, 0, true},
		{"a browser's drift in the past", t0.Add(-30 * time.Second), 0, true},
		{"in the past", t0.Add(-2 * time.Minute), 0, false},
		{"89 days", t0.Add(89 * day), 0, true},
		{"beyond 90 days", t0.Add(91 * day), 0, false},
		{"within book_ahead", t0.Add(13 * day), 14 * day, true},
		{"beyond book_ahead", t0.Add(15 * day), 14 * day, false},
	}
	for _, c := range cases {
		err := CheckDesired(c.desired, t0, c.bookAhead)
		var fe *FieldError
		if c.ok != (err == nil) || (err != nil && (!errors.As(err, &fe) || fe.Field != "desired_time")) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if err := CheckDesired(t0.Add(15*day), t0, 14*day); err.Error() != "desired_time: must be within the service's booking horizon of 14 days" {
		t.Errorf("says %q", err)
	}
}

// A move of a callback being routed waits for the router's decision: the
// platform's next word on the callback settles it, whichever it is, even a
// confirmation that says only what the move did.
func TestAMoveOfACallbackBeingRoutedIsSettledByTheNextWord(t *testing.T) {
	later := t0.Add(time.Hour)
	due := &callbackv1.CallbackStateChanged{State: callbackv1.CallbackState_CALLBACK_STATE_QUEUED, At: timestamppb.New(t0), InteractionId: "i1"}
	move := &callbackv1.CallbackRescheduleRequested{CallbackId: "c1", DesiredTime: timestamppb.New(later), At: timestamppb.New(t0)}
	cases := []struct {
		name      string
		given     []proto.Message
		word      Progress
		wantAsked bool // before the word
		want      callbackv1.CallbackState
	}{
		{"the agent took it", []proto.Message{requested(nil), due, move}, Progress{State: callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS,
			InteractionID: "i1", Agent: "a1", At: t0}, true, callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS},
		{"the router withdrew it: moved", []proto.Message{requested(nil), due, move}, Progress{State: callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED,
			ScheduledFor: later, Reopen: true, Moved: "moved by the visitor", At: t0}, true, callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED},
		{"moved, told with no reason", []proto.Message{requested(nil), due, move}, Progress{State: callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED,
			ScheduledFor: later, Reopen: true, At: t0}, true, callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED},
		{"not yet due: the scheduler moves it alone", []proto.Message{requested(&later), move}, Progress{State: callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED,
			ScheduledFor: later, Reopen: true, Moved: "moved", At: t0}, false, callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := fold(c.given...)
			if st.MoveAsked != c.wantAsked {
				t.Fatalf("asked %v before the word", st.MoveAsked)
			}
			out, err := Decide(st, c.word)
			if err != nil || len(out) != 1 {
				t.Fatalf("the word recorded %v, %v", out, err)
			}
			after := fold(append(c.given, out...)...)
			if after.MoveAsked || after.Status != c.want {
				t.Fatalf("after the word: asked %v, %s", after.MoveAsked, after.Status)
			}
		})
	}
}
