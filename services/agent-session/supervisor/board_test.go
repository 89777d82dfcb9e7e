package supervisor

import (
	"testing"
	"time"

	"reflect"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/agent-session/words"
)

var (
	now   = time.Date(2026, 12, 3, 15, 20, 0, 0, time.UTC)
	today = time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
)

type ev struct {
	stream string
	m      proto.Message
}

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func requested(id, service string, at time.Time, desired *time.Time) ev {
	r := &callbackv1.CallbackRequest{Service: service, RequestedAt: ts(at)}
	if desired != nil {
		r.DesiredTime = ts(*desired)
	}
	return ev{CallbackPrefix + id, &callbackv1.CallbackRequested{CallbackId: id, Request: r}}
}

func changed(id string, s callbackv1.CallbackState, at time.Time, disposition string) ev {
	return ev{CallbackPrefix + id, &callbackv1.CallbackStateChanged{CallbackId: id, State: s, At: ts(at), Disposition: disposition}}
}

func presented(iid, cb, agentID string) ev {
	return ev{InteractionPrefix + iid, &agentv1.InteractionPresented{InteractionId: iid, CallbackId: cb, AgentId: agentID}}
}

func at(h, m int) time.Time {
	return today.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

func ptr[T any](v T) *T { return &v }

const (
	scheduled  = callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED
	queued     = callbackv1.CallbackState_CALLBACK_STATE_QUEUED
	inProgress = callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS
	completed  = callbackv1.CallbackState_CALLBACK_STATE_COMPLETED
)

func TestSummarizeCallbacks(t *testing.T) {
	tomorrow9 := today.Add(33 * time.Hour)
	tests := []struct {
		name   string
		events []ev
		covers func(string) bool
		want   []ServiceSummary
	}{
		{name: "nothing", want: []ServiceSummary{}},
		{
			name: "scheduled by hour, today and tomorrow; one overdue counts in today's first hour",
			events: []ev{
				requested("a", "sales", at(15, 0), ptr(at(16, 10))),
				requested("b", "sales", at(15, 1), ptr(at(16, 50))),
				requested("c", "sales", at(15, 2), ptr(tomorrow9)),
				requested("d", "sales", today.Add(-2*time.Hour), ptr(today.Add(-time.Hour))),
			},
			want: []ServiceSummary{{Service: "sales", Completed: map[string]int{}, Scheduled: []HourCount{
				{Hour: today, Count: 1}, {Hour: at(16, 0), Count: 2}, {Hour: tomorrow9, Count: 1}}}},
		},
		{
			name: "due and waiting with the oldest wait; an offer is not waiting",
			events: []ev{
				requested("a", "sales", at(15, 0), nil),
				requested("b", "sales", at(15, 10), nil),
				requested("c", "sales", at(14, 0), ptr(at(15, 5))),
				changed("c", queued, at(15, 5), ""),
				requested("d", "sales", at(13, 0), nil),
				presented("i-d", "d", "ann"),
			},
			want: []ServiceSummary{{Service: "sales", Completed: map[string]int{}, Scheduled: []HourCount{},
				Waiting: 3, OldestWaitSince: ptr(at(15, 0)), OldestWaitSecs: 20 * 60, Offered: 1}},
		},
		{
			name: "a rejected offer waits again; an accepted one is in progress; completed today by outcome",
			events: []ev{
				requested("a", "sales", at(15, 0), nil),
				presented("i-a", "a", "ann"),
				{InteractionPrefix + "i-a", &agentv1.InteractionWithdrawn{InteractionId: "i-a"}},
				requested("b", "sales", at(15, 0), nil),
				presented("i-b", "b", "ann"),
				{InteractionPrefix + "i-b", &agentv1.InteractionAccepted{InteractionId: "i-b"}},
				changed("b", inProgress, at(15, 1), ""),
				requested("c", "sales", at(9, 0), nil), changed("c", completed, at(9, 30), "sold"),
				requested("d", "sales", at(9, 0), nil), changed("d", completed, at(10, 0), "sold"),
				requested("e", "sales", at(9, 0), nil), changed("e", completed, at(10, 0), "no-answer"),
				requested("y", "sales", today.Add(-3*time.Hour), nil), changed("y", completed, today.Add(-time.Hour), "sold"),
				requested("f", "sales", at(9, 0), nil),
				{CallbackPrefix + "f", &callbackv1.CallbackCancelled{CallbackId: "f", At: ts(at(9, 1))}},
			},
			want: []ServiceSummary{{Service: "sales", Completed: map[string]int{"sold": 2, "no-answer": 1}, Scheduled: []HourCount{},
				Waiting: 1, OldestWaitSince: ptr(at(15, 0)), OldestWaitSecs: 20 * 60, InProgress: 1, Cancelled: 1}},
		},
		{
			name: "rescheduled: to later is scheduled; to now (a reassign) waits again, its offer gone",
			events: []ev{
				requested("a", "sales", at(15, 0), nil),
				{CallbackPrefix + "a", &callbackv1.CallbackRescheduleRequested{CallbackId: "a", At: ts(at(15, 2)), DesiredTime: ts(at(17, 30))}},
				requested("b", "sales", at(15, 0), nil),
				presented("i-b", "b", "ann"),
				{CallbackPrefix + "b", &callbackv1.CallbackRescheduleRequested{CallbackId: "b", At: ts(at(15, 5)), DesiredTime: ts(at(15, 5)), PersonalAgent: "bob"}},
			},
			want: []ServiceSummary{{Service: "sales", Completed: map[string]int{}, Scheduled: []HourCount{{Hour: at(17, 0), Count: 1}},
				Waiting: 1, OldestWaitSince: ptr(at(15, 5)), OldestWaitSecs: 15 * 60}},
		},
		{
			name: "a supervisor sees their services only; events of unknown callbacks change nothing",
			events: []ev{
				requested("a", "sales", at(15, 0), nil),
				requested("b", "support", at(15, 0), nil),
				changed("zz", completed, at(15, 0), "sold"),
				presented("i-zz", "zz", "ann"),
			},
			covers: func(s string) bool { return s == "support" },
			want: []ServiceSummary{{Service: "support", Completed: map[string]int{}, Scheduled: []HourCount{},
				Waiting: 1, OldestWaitSince: ptr(at(15, 0)), OldestWaitSecs: 20 * 60}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New()
			for _, e := range tt.events {
				b.Apply(e.stream, e.m)
			}
			got := b.Summarize(now, time.UTC, tt.covers)
			if got := got.Services; !reflect.DeepEqual(tt.want, got) {
				t.Errorf("services = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSummarizeAgents(t *testing.T) {
	login := func(id string, skills map[string]int32) ev {
		return ev{AgentPrefix + id, &agentv1.AgentLoggedIn{AgentId: id, Skills: skills}}
	}
	state := func(id, s, reason string, t time.Time) ev {
		st, _ := words.ParseAgentState(s)
		e := &agentv1.AgentStateChanged{AgentId: id, Channel: agentv1.Channel_CHANNEL_WEB_CALLBACK, State: st, Reason: reason, At: ts(t)}
		if id == "bob" { // as stored before the state was an enum: still read
			e.Channel, e.State, e.LegacyChannel, e.LegacyState = 0, 0, "webcallback", s
		}
		return ev{AgentPrefix + id, e}
	}
	b := New()
	for _, e := range []ev{
		login("ann", map[string]int32{"sales": 5}), state("ann", "READY", "", at(8, 0)),
		login("bob", map[string]int32{"sales": 5}), state("bob", "NOT_READY", "lunch", at(12, 0)),
		login("cid", map[string]int32{"support": 5}), state("cid", "NOT_READY", "lunch", at(12, 5)),
		login("dan", nil), state("dan", "READY", "", at(9, 0)),
		{AgentPrefix + "dan", &agentv1.AgentLoggedOut{AgentId: "dan"}},
		// an interaction's events are not an agent's
		presented("i-1", "x", "ann"),
	} {
		b.Apply(e.stream, e.m)
	}
	sales := func(s string) bool { return s == "sales" }
	wantCounts := []StateCount{{State: "LOGGED_OUT", Count: 1}, {State: "NOT_READY", Reason: "lunch", Count: 1}, {State: "READY", Count: 1}}
	if got := b.Summarize(now, time.UTC, sales).Agents; !reflect.DeepEqual(wantCounts, got) {
		t.Errorf("counts = %+v, want %+v", got, wantCounts)
	}
	want := []AgentRow{
		{Agent: "ann", State: "READY", Since: at(8, 0), Skills: []string{"sales"}},
		{Agent: "bob", State: "NOT_READY", Reason: "lunch", Since: at(12, 0), Skills: []string{"sales"}},
		{Agent: "dan", State: "LOGGED_OUT"},
	}
	if got := b.Agents(nil, sales); !reflect.DeepEqual(want, got) {
		t.Errorf("rows = %+v, want %+v", got, want)
	}
	if got := b.TakeChanged(); len(got) != 4 {
		t.Errorf("changed agents = %v, want ann, bob, cid, dan", got)
	}
	if got := b.TakeChanged(); len(got) != 0 {
		t.Errorf("changed agents after a take = %v, want none", got)
	}
	if got := b.Agents([]string{"bob", "cid", "nobody"}, sales); !reflect.DeepEqual([]AgentRow{want[1]}, got) {
		t.Errorf("rows of ids = %+v, want %+v", got, []AgentRow{want[1]})
	}
}

func TestForget(t *testing.T) {
	b := New()
	for _, e := range []ev{
		requested("old", "sales", today.Add(-30*time.Hour), nil), changed("old", completed, today.Add(-29*time.Hour), "sold"),
		requested("new", "sales", at(9, 0), nil), changed("new", completed, at(9, 30), "sold"),
		requested("open", "sales", today.Add(-30*time.Hour), nil),
	} {
		b.Apply(e.stream, e.m)
	}
	if n := b.Forget(today.Add(-24 * time.Hour)); n != 1 {
		t.Fatalf("forgot %d, want 1 (the completed one before the cutoff)", n)
	}
	s := b.Summarize(now, time.UTC, nil).Services[0]
	if s.Waiting != 1 || s.Completed["sold"] != 1 {
		t.Errorf("after forgetting: %+v", s)
	}
}

// A supervisor's Not Ready waiting for the agent's call shows on their row
// beside the state they are in (issue 14), and goes once it is set.
func TestSummarizePendingNotReady(t *testing.T) {
	b := New()
	busy := &agentv1.AgentStateChanged{AgentId: "ann", Channel: agentv1.Channel_CHANNEL_WEB_CALLBACK, State: agentv1.AgentState_AGENT_STATE_BUSY, At: ts(at(8, 0))}
	pending := &agentv1.AgentStatePending{AgentId: "ann", Channel: agentv1.Channel_CHANNEL_WEB_CALLBACK, State: agentv1.AgentState_AGENT_STATE_NOT_READY,
		Reason: "Coaching", By: "sup", At: ts(at(8, 5))}
	for _, m := range []proto.Message{&agentv1.AgentLoggedIn{AgentId: "ann"}, busy, pending} {
		b.Apply(AgentPrefix+"ann", m)
	}
	want := []AgentRow{{Agent: "ann", State: "BUSY", Since: at(8, 0), Pending: "NOT_READY", PendingBy: "sup"}}
	if got := b.Agents(nil, nil); !reflect.DeepEqual(want, got) {
		t.Errorf("rows = %+v, want %+v", got, want)
	}
	b.Apply(AgentPrefix+"ann", &agentv1.AgentStateChanged{AgentId: "ann", Channel: agentv1.Channel_CHANNEL_WEB_CALLBACK,
		State: agentv1.AgentState_AGENT_STATE_NOT_READY, Cause: agentv1.StateCause_STATE_CAUSE_SUPERVISOR, Reason: "Coaching", At: ts(at(8, 20))})
	want = []AgentRow{{Agent: "ann", State: "NOT_READY", Reason: "Coaching", Since: at(8, 20)}}
	if got := b.Agents(nil, nil); !reflect.DeepEqual(want, got) {
		t.Errorf("rows once set = %+v, want %+v", got, want)
	}
}
