package callback

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/dialplan"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func requested(desired *time.Time) *callbackv1.CallbackRequested {
	r := &callbackv1.CallbackRequest{Service: "support", PhoneNumber: "+14155550123", RequestedAt: timestamppb.New(t0)}
	if desired != nil {
		r.DesiredTime = timestamppb.New(*desired)
	}
	return &callbackv1.CallbackRequested{CallbackId: "c1", Request: r}
}

func fold(events ...proto.Message) State {
	s := State{}
	for _, e := range events {
		s = Evolve(s, e)
	}
	return s
}

var inProgress = &callbackv1.CallbackStateChanged{State: callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS,
	InteractionId: "i1", AgentId: "a1", At: timestamppb.New(t0)}

// TestSupervisorEndRecordsWhoAndWhy: the one free-text field of the event
// says who ended the callback and why.
func TestSupervisorEndRecordsWhoAndWhy(t *testing.T) {
	out, err := Decide(fold(requested(nil), inProgress), Cancel{At: t0, Reason: "abusive caller", By: "s1", Supervisor: true})
	if err != nil || len(out) != 1 {
		t.Fatal(out, err)
	}
	if got := out[0].(*callbackv1.CallbackCancelled).Reason; got != "ended by supervisor s1: abusive caller" {
		t.Fatalf("reason %q", got)
	}
}

var voided = &callbackv1.CallbackVoided{CallbackId: "c1", At: timestamppb.New(t0)}

func TestDecide(t *testing.T) {
	later := t0.Add(time.Hour)
	progress := func(st callbackv1.CallbackState) Progress { return Progress{State: st, At: t0} }
	cases := []struct {
		name    string
		given   []proto.Message
		when    Command
		want    int // number of events
		wantErr error
	}{
		{"request new", nil, Request{ID: "c1", Request: requested(nil).Request, At: t0}, 1, nil},
		{"request twice", []proto.Message{requested(nil)}, Request{ID: "c1", Request: requested(nil).Request}, 0, ErrExists},
		{"cancel unknown", nil, Cancel{At: t0}, 0, ErrNotFound},
		{"cancel open", []proto.Message{requested(nil)}, Cancel{At: t0}, 1, nil},
		// Issue 16: cancel means not started.
		{"visitor cancels queued", []proto.Message{requested(nil),
			&callbackv1.CallbackStateChanged{State: callbackv1.CallbackState_CALLBACK_STATE_QUEUED, At: timestamppb.New(t0)}},
			Cancel{At: t0}, 1, nil},
		{"visitor cancels scheduled", []proto.Message{requested(&later)}, Cancel{At: t0}, 1, nil},
		{"visitor cannot cancel in progress", []proto.Message{requested(nil), inProgress},
			Cancel{At: t0, Reason: "cancelled by the visitor"}, 0, ErrInProgress},
		{"supervisor ends in progress", []proto.Message{requested(nil), inProgress},
			Cancel{At: t0, Reason: "abusive caller", By: "s1", Supervisor: true}, 1, nil},
		{"supervisor needs a reason", []proto.Message{requested(nil), inProgress},
			Cancel{At: t0, By: "s1", Supervisor: true}, 0, ErrNoReason},
		{"supervisor cannot end completed", []proto.Message{requested(nil), inProgress,
			&callbackv1.CallbackStateChanged{State: callbackv1.CallbackState_CALLBACK_STATE_COMPLETED, At: timestamppb.New(t0)}},
			Cancel{At: t0, Reason: "x", By: "s1", Supervisor: true}, 0, ErrFinal},
		{"cancel completed", []proto.Message{requested(nil),
			&callbackv1.CallbackStateChanged{State: callbackv1.CallbackState_CALLBACK_STATE_COMPLETED, At: timestamppb.New(t0)}},
			Cancel{At: t0}, 0, ErrFinal},
		{"progress forward", []proto.Message{requested(nil)}, progress(callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS), 1, nil},
		{"progress backwards ignored", []proto.Message{requested(nil),
			&callbackv1.CallbackStateChanged{State: callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS, At: timestamppb.New(t0)}},
			progress(callbackv1.CallbackState_CALLBACK_STATE_QUEUED), 0, nil},
		{"progress after cancel ignored", []proto.Message{requested(&later), &callbackv1.CallbackCancelled{At: timestamppb.New(t0)}},
			progress(callbackv1.CallbackState_CALLBACK_STATE_QUEUED), 0, nil},
		{"rescheduled reopens", []proto.Message{requested(nil),
			&callbackv1.CallbackStateChanged{State: callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS, InteractionId: "i1", At: timestamppb.New(t0)}},
			Progress{State: callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED, ScheduledFor: t0.Add(time.Hour), Reopen: true, At: t0}, 1, nil},
		{"late word of an earlier interaction", []proto.Message{requested(nil),
			&callbackv1.CallbackStateChanged{State: callbackv1.CallbackState_CALLBACK_STATE_QUEUED, InteractionId: "i2", At: timestamppb.New(t0)}},
			Progress{State: callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS, InteractionID: "i1", At: t0}, 0, nil},
		{"progress unknown ignored", nil, progress(callbackv1.CallbackState_CALLBACK_STATE_QUEUED), 0, nil},
		{"void unwritten", nil, Void{ID: "c1", At: t0}, 1, nil},
		{"void twice", []proto.Message{voided}, Void{ID: "c1", At: t0}, 0, nil},
		{"void lost to the request", []proto.Message{requested(nil)}, Void{ID: "c1", At: t0}, 0, ErrExists},
		{"request after void", []proto.Message{voided}, Request{ID: "c1", Request: requested(nil).Request, At: t0}, 0, ErrVoided},
		{"cancel voided", []proto.Message{voided}, Cancel{At: t0}, 0, ErrNotFound},
		{"progress voided ignored", []proto.Message{voided}, progress(callbackv1.CallbackState_CALLBACK_STATE_QUEUED), 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decide(fold(c.given...), c.when)
			if !errors.Is(err, c.wantErr) || len(got) != c.want {
				t.Fatalf("got %d events, err %v; want %d, %v", len(got), err, c.want, c.wantErr)
			}
		})
	}
}

func TestInitialStateFollowsDesiredTime(t *testing.T) {
	later := t0.Add(time.Hour)
	if s := fold(requested(nil)); s.Status != callbackv1.CallbackState_CALLBACK_STATE_QUEUED {
		t.Fatalf("asap: %v", s.Status)
	}
	if s := fold(requested(&later)); s.Status != callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED || !s.ScheduledFor.Equal(later) {
		t.Fatalf("later: %v %v", s.Status, s.ScheduledFor)
	}
}

func TestValidate(t *testing.T) {
	ok := Input{Service: "support", PhoneNumber: "+14155550123", Subject: "Billing", CaseData: map[string]string{"order": "A-17"}}
	cases := []struct {
		name  string
		edit  func(*Input)
		field string
	}{
		{"valid", func(*Input) {}, ""},
		{"no service", func(i *Input) { i.Service = "" }, "service"},
		{"bad service", func(i *Input) { i.Service = "Support Team" }, "service"},
		{"no phone", func(i *Input) { i.PhoneNumber = "" }, "phone_number"},
		{"local phone", func(i *Input) { i.PhoneNumber = "0612345678" }, "phone_number"},
		{"letters", func(i *Input) { i.PhoneNumber = "+1415CALLME" }, "phone_number"},
		{"too long", func(i *Input) { i.PhoneNumber = "+1234567890123456" }, "phone_number"},
		{"bad time", func(i *Input) { i.DesiredTime = "tomorrow" }, "desired_time"},
		{"past", func(i *Input) { i.DesiredTime = t0.Add(-time.Hour).Format(time.RFC3339) }, "desired_time"},
		{"far future", func(i *Input) { i.DesiredTime = t0.Add(100 * 24 * time.Hour).Format(time.RFC3339) }, "desired_time"},
		{"future ok", func(i *Input) { i.DesiredTime = t0.Add(time.Hour).Format(time.RFC3339) }, ""},
		{"empty case key", func(i *Input) { i.CaseData = map[string]string{"": "x"} }, "case_data"},
		// The dial plan (issue 16): never an emergency, premium or service number.
		{"emergency", func(i *Input) { i.PhoneNumber = "+1911" }, "phone_number"},
		{"emergency, 112", func(i *Input) { i.PhoneNumber = "+112" }, "phone_number"},
		{"premium", func(i *Input) { i.PhoneNumber = "+19005550123" }, "phone_number"},
		{"N11 area code", func(i *Input) { i.PhoneNumber = "+19115550123" }, "phone_number"},
		{"UK premium", func(i *Input) { i.PhoneNumber = "+448712345678" }, "phone_number"},
		{"country not allowed", func(i *Input) { i.Plan = dialplan.Plan{Countries: []string{"GB"}} }, "phone_number"},
		{"country allowed", func(i *Input) { i.Plan = dialplan.Plan{Countries: []string{"US"}} }, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := ok
			c.edit(&in)
			_, err := Validate(in, t0)
			var fe *FieldError
			if c.field == "" {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("err = %v, want field %s", err, c.field)
			}
		})
	}
}

// TestAgentOfTheCallback: the agent who accepted, then finished, is the
// callback's agent; a reschedule keeps them until another accepts.
func TestAgentOfTheCallback(t *testing.T) {
	s := fold(requested(nil))
	for _, step := range []struct {
		p    Progress
		want string
	}{
		{Progress{State: callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS, InteractionID: "i1", Agent: "a1", At: t0}, "a1"},
		{Progress{State: callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED, InteractionID: "i1", Reopen: true, At: t0}, "a1"},
		{Progress{State: callbackv1.CallbackState_CALLBACK_STATE_QUEUED, InteractionID: "i2", At: t0}, "a1"},
		{Progress{State: callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS, InteractionID: "i2", Agent: "a2", At: t0}, "a2"},
		// Issue 15: a2 transferred the call, and the interaction, to a3.
		{Progress{State: callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS, InteractionID: "i2", Agent: "a3", At: t0}, "a3"},
		{Progress{State: callbackv1.CallbackState_CALLBACK_STATE_COMPLETED, InteractionID: "i2", Agent: "a3", At: t0}, "a3"},
	} {
		evs, err := Decide(s, step.p)
		if err != nil || len(evs) != 1 {
			t.Fatalf("%v: %d events, %v", step.p.State, len(evs), err)
		}
		s = Evolve(s, evs[0])
		if s.Agent != step.want {
			t.Fatalf("after %v: agent %q, want %q", step.p.State, s.Agent, step.want)
		}
	}
}
