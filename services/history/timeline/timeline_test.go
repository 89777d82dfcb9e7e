package timeline

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/proto/catalog"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	dispositionv1 "github.com/ringback/ringback/proto/ringback/disposition/v1"
	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

const phone = "+14155550123"

var request = &callbackv1.CallbackRequest{Service: "support", PhoneNumber: phone, Subject: "Billing",
	RequestedAt: timestamppb.New(t0)}

// rec wraps a fact of another service as history records it, at t0+min.
func rec(min int, e proto.Message) *historyv1.InteractionEventRecorded {
	b, err := proto.Marshal(e)
	if err != nil {
		panic(err)
	}
	f := FactsOf(e)
	return &historyv1.InteractionEventRecorded{CallbackId: "c1", InteractionId: f.InteractionID,
		EventId: catalog.Short(catalog.TypeName(e)) + "-" + time.Duration(min).String(), EventType: catalog.TypeName(e),
		Source: "test", OccurredAt: timestamppb.New(t0.Add(time.Duration(min) * time.Minute)), Data: b,
		PhoneNumber: f.PhoneNumber}
}

func fold(events ...proto.Message) State {
	var s State
	for _, e := range events {
		s = Evolve(s, e)
	}
	return s
}

var (
	requested = &callbackv1.CallbackRequested{CallbackId: "c1", Request: request}
	scheduled = &callbackv1.CallbackScheduled{CallbackId: "c1", Request: request, DueAt: timestamppb.New(t0)}
	due       = &callbackv1.CallbackDue{CallbackId: "c1", Request: request, InteractionId: "i1"}
	queued    = &routingv1.InteractionQueued{InteractionId: "i1", CallbackId: "c1", Request: request}
	offered   = &routingv1.InteractionOffered{InteractionId: "i1", CallbackId: "c1", AgentId: "a1", Request: request}
	rejected  = &routingv1.OfferRejected{InteractionId: "i1", AgentId: "a1"}
	accepted  = &routingv1.OfferAccepted{InteractionId: "i1", AgentId: "a1"}
	connected = &mediav1.CallConnected{InteractionId: "i1", CallId: "k1"}
	dispSet   = &dispositionv1.DispositionSet{InteractionId: "i1", Code: "callback-again"}
	done      = &agentv1.InteractionDone{InteractionId: "i1", CallbackId: "c1", Disposition: "resolved"}
	cancelled = &callbackv1.CallbackCancelled{CallbackId: "c1"}
)

func TestOutcome(t *testing.T) {
	cases := []struct {
		name  string
		given []proto.Message
		want  Status
		disp  string
	}{
		{"requested", []proto.Message{rec(0, requested)}, Requested, ""},
		{"scheduled", []proto.Message{rec(0, requested), rec(1, scheduled)}, Scheduled, ""},
		{"queued", []proto.Message{rec(0, requested), rec(1, scheduled), rec(2, due), rec(3, queued)}, Queued, ""},
		{"offered", []proto.Message{rec(0, requested), rec(2, due), rec(3, offered)}, Offered, ""},
		{"rejected goes back to the queue", []proto.Message{rec(0, requested), rec(3, offered), rec(4, rejected)}, Queued, ""},
		{"reject after accept ignored", []proto.Message{rec(3, offered), rec(5, accepted), rec(4, rejected)}, InProgress, ""},
		{"in progress", []proto.Message{rec(0, requested), rec(3, offered), rec(4, accepted), rec(5, connected)}, InProgress, ""},
		{"disposition while in progress", []proto.Message{rec(4, accepted), rec(6, dispSet)}, InProgress, "callback-again"},
		{"done with its disposition", []proto.Message{rec(4, accepted), rec(6, dispSet), rec(7, done)}, Completed, "resolved"},
		{"late disposition after done ignored", []proto.Message{rec(4, accepted), rec(7, done), rec(8, dispSet)}, Completed, "resolved"},
		// Topics are consumed in parallel: the router's facts may be
		// recorded before the scheduler's that caused them.
		{"out of order arrival", []proto.Message{rec(3, offered), rec(2, due), rec(1, scheduled), rec(0, requested)}, Offered, ""},
		{"done before media recorded", []proto.Message{rec(9, done), rec(5, connected), rec(0, requested)}, Completed, "resolved"},
		{"cancelled", []proto.Message{rec(0, requested), rec(1, scheduled), rec(2, cancelled)}, Cancelled, ""},
		{"final is final", []proto.Message{rec(0, requested), rec(2, cancelled), rec(3, due)}, Cancelled, ""},
		{"intake's restatement ignored", []proto.Message{rec(3, offered), rec(4, &callbackv1.CallbackStateChanged{CallbackId: "c1",
			State: callbackv1.CallbackState_CALLBACK_STATE_QUEUED})}, Offered, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := fold(c.given...).Outcome()
			if o.Status != c.want || o.Disposition != c.disp {
				t.Fatalf("got %v %q, want %v %q", o.Status, o.Disposition, c.want, c.disp)
			}
			if o.Status.Final() != !o.EndedAt.IsZero() {
				t.Fatalf("ended at %v for %v", o.EndedAt, o.Status)
			}
		})
	}
}

func TestEvolveLearnsTheContact(t *testing.T) {
	s := fold(rec(3, offered), rec(0, requested), rec(5, &agentv1.DialRequested{InteractionId: "i2", PhoneNumber: phone}))
	if !s.Exists || s.CallbackID != "c1" || s.PhoneNumber != phone || s.Service != "support" || s.Subject != "Billing" {
		t.Fatalf("state %+v", s)
	}
	if !s.RequestedAt.Equal(t0) || !s.LastAt.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("requested %v last %v", s.RequestedAt, s.LastAt)
	}
	if s.InteractionID != "i2" || strings.Join(s.Interactions, ",") != "i1,i2" {
		t.Fatalf("interactions %q %v", s.InteractionID, s.Interactions)
	}
}

func TestDecide(t *testing.T) {
	record := Record{CallbackID: "c1", InteractionID: "i1", EventID: "e1", EventType: catalog.TypeName(due), OccurredAt: t0}
	note := AddNote{InteractionID: "i1", AgentID: "a1", Text: "asked for a refund", At: t0}
	withText := func(s string) AddNote { n := note; n.Text = s; return n }
	cases := []struct {
		name    string
		given   []proto.Message
		when    Command
		want    int
		wantErr error
		field   string
	}{
		{"record first", nil, record, 1, nil, ""},
		{"record more", []proto.Message{rec(0, requested)}, record, 1, nil, ""},
		{"record without callback", nil, Record{EventID: "e1", EventType: "x"}, 0, nil, "-"},
		{"note", []proto.Message{rec(2, due)}, note, 1, nil, ""},
		{"note of unknown interaction", nil, note, 0, ErrNotFound, ""},
		{"note without agent", []proto.Message{rec(2, due)}, AddNote{Text: "x"}, 0, nil, "agent_id"},
		{"empty note", []proto.Message{rec(2, due)}, withText(""), 0, nil, "text"},
		{"note of 4000 bytes", []proto.Message{rec(2, due)}, withText(strings.Repeat("é", 2000)), 1, nil, ""},
		{"note too long", []proto.Message{rec(2, due)}, withText(strings.Repeat("x", MaxNote+1)), 0, nil, "text"},
		{"note not text", []proto.Message{rec(2, due)}, withText("\xff\xfe"), 0, nil, "text"},
		{"bad input before unknown", nil, withText(""), 0, nil, "text"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decide(fold(c.given...), c.when)
			var fe *FieldError
			switch {
			case c.field == "-":
				if err == nil {
					t.Fatal("want an error")
				}
			case c.field != "":
				if !errors.As(err, &fe) || fe.Field != c.field {
					t.Fatalf("err = %v, want field %s", err, c.field)
				}
			case !errors.Is(err, c.wantErr):
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if len(got) != c.want {
				t.Fatalf("got %d events, want %d", len(got), c.want)
			}
		})
	}
}

func TestNotesFold(t *testing.T) {
	s := fold(rec(2, due), &historyv1.NoteAdded{InteractionId: "i1", AgentId: "a1", Text: "one", At: timestamppb.New(t0)},
		&historyv1.NoteAdded{InteractionId: "i1", AgentId: "a2", Text: "two", At: timestamppb.New(t0)})
	if len(s.Notes) != 2 || s.Notes[0].Text != "one" || s.Notes[1].AgentID != "a2" {
		t.Fatalf("notes %+v", s.Notes)
	}
}

// A note typed and never saved, filed by agent-session at Done (issue 15),
// is a note of the contact history like a saved one; a case edit too.
func TestFiledDraftIsANote(t *testing.T) {
	s := fold(rec(2, due), &historyv1.NoteAdded{InteractionId: "i1", AgentId: "a1", Text: "saved", At: timestamppb.New(t0)},
		rec(4, &agentv1.DraftFiled{InteractionId: "i1", CallbackId: "c1", AgentId: "a1", Note: "typed",
			CaseEdited: true, CaseData: map[string]string{"order": "A-2"}, At: timestamppb.New(t0.Add(4 * time.Minute))}),
		rec(5, &agentv1.DraftFiled{InteractionId: "i1", CallbackId: "c1", AgentId: "a1", At: timestamppb.New(t0.Add(5 * time.Minute))}))
	if len(s.Notes) != 2 || s.Notes[1].Text != "typed" || s.Notes[1].InteractionID != "i1" || !s.Notes[1].At.Equal(t0.Add(4*time.Minute)) {
		t.Fatalf("notes %+v", s.Notes)
	}
	if s.CaseData["order"] != "A-2" {
		t.Fatalf("case data %v", s.CaseData)
	}
	if s = Evolve(s, rec(6, requested)); s.CaseData["order"] != "A-2" {
		t.Fatalf("the request's case data replaced the edit: %v", s.CaseData)
	}
}

func TestFactsOf(t *testing.T) {
	cases := []struct {
		event proto.Message
		want  Facts
	}{
		{requested, Facts{CallbackID: "c1", PhoneNumber: phone}},
		{due, Facts{CallbackID: "c1", InteractionID: "i1", PhoneNumber: phone}},
		{accepted, Facts{InteractionID: "i1"}},
		{&agentv1.DialRequested{InteractionId: "i1", PhoneNumber: phone}, Facts{InteractionID: "i1", PhoneNumber: phone}},
		{&agentv1.AgentStateChanged{AgentId: "a1", State: agentv1.AgentState_AGENT_STATE_READY}, Facts{}},
		{&callbackv1.CallbackRescheduled{CallbackId: "c1"}, Facts{CallbackID: "c1"}},
	}
	for _, c := range cases {
		if got := FactsOf(c.event); got != c.want {
			t.Errorf("%s: got %+v, want %+v", catalog.TypeName(c.event), got, c.want)
		}
	}
}

func TestTrailOrdersByTimeThenRecording(t *testing.T) {
	note := &historyv1.NoteAdded{InteractionId: "i1", AgentId: "a1", Text: "n", At: timestamppb.New(t0.Add(4 * time.Minute))}
	unknown := rec(1, requested)
	unknown.EventType = "ringback.future.v9.Thing"
	trail := Trail([]Recorded{
		{ID: "r1", Stream: "s", Event: rec(3, offered)},
		{ID: "r2", Stream: "s", Event: rec(0, requested)},
		{ID: "r3", Stream: "s", Event: note},
		{ID: "r4", Stream: "s", Event: rec(3, accepted)},
		{ID: "r5", Stream: "s", Event: unknown},
	})
	var got []string
	for _, e := range trail {
		got = append(got, catalog.Short(e.Type))
	}
	if want := "CallbackRequested Thing InteractionOffered OfferAccepted NoteAdded"; strings.Join(got, " ") != want {
		t.Fatalf("trail %v, want %s", got, want)
	}
	if trail[1].Event != nil || trail[4].ID != "r3" || trail[4].Source != "s" {
		t.Fatalf("entries %+v", trail)
	}
}

// TestHandlers: the agents a callback's interactions were offered to or
// accepted by, whatever order the facts arrive in.
func TestHandlers(t *testing.T) {
	offeredA2 := &routingv1.InteractionOffered{InteractionId: "i1", CallbackId: "c1", AgentId: "a2", Request: request}
	for _, tc := range []struct {
		name   string
		events []proto.Message
		want   map[string]bool
	}{
		{"queued only", []proto.Message{rec(1, queued)}, map[string]bool{"a1": false, "": false}},
		{"offered", []proto.Message{rec(1, queued), rec(2, offered)}, map[string]bool{"a1": true, "a2": false}},
		{"rejected, offered to another, accepted", []proto.Message{rec(2, offered), rec(3, rejected), rec(4, offeredA2),
			rec(5, &routingv1.OfferAccepted{InteractionId: "i1", AgentId: "a2"})}, map[string]bool{"a1": true, "a2": true, "a3": false}},
		{"accept seen before the offer", []proto.Message{rec(5, accepted)}, map[string]bool{"a1": true}},
		// Issue 15: a call transferred to an agent takes its interaction.
		{"transferred to another agent", []proto.Message{rec(2, offered), rec(3, accepted),
			rec(4, &agentv1.InteractionTransferred{InteractionId: "i1", FromAgentId: "a1", ToAgentId: "a2"})},
			map[string]bool{"a1": true, "a2": true, "a3": false}},
	} {
		s := fold(tc.events...)
		for agent, want := range tc.want {
			if got := s.HandledBy(agent); got != want {
				t.Errorf("%s: HandledBy(%q) = %v, want %v", tc.name, agent, got, want)
			}
		}
	}
}

// A fact that arrives late goes in among the marks without changing a
// state folded before it: the view and the command cache keep states and
// fold on from them.
func TestALateFactLeavesEarlierStatesAsTheyWere(t *testing.T) {
	before := fold(rec(0, requested), rec(3, offered), rec(4, rejected))
	after := Evolve(before, rec(5, accepted)) // in order: appended
	late := Evolve(after, rec(2, due))        // late: inserted
	if o := Evolve(before, rec(2, due)).Outcome(); o.Status != Queued {
		t.Fatalf("with the late fact: %v, want Queued", o.Status)
	}
	if o := before.Outcome(); o.Status != Queued {
		t.Fatalf("the state before the late fact reads %v, want Queued", o.Status)
	}
	if o := after.Outcome(); o.Status != InProgress {
		t.Fatalf("the state before the late fact reads %v, want InProgress", o.Status)
	}
	if o := late.Outcome(); o.Status != InProgress {
		t.Fatalf("with the late fact: %v, want InProgress", o.Status)
	}
	for i := 1; i < len(late.marks); i++ {
		if late.marks[i].at.Before(late.marks[i-1].at) {
			t.Fatalf("marks out of order: %+v", late.marks)
		}
	}
}
