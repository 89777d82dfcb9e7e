package index

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

const (
	scheduled  = callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED
	queued     = callbackv1.CallbackState_CALLBACK_STATE_QUEUED
	inProgress = callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS
	completed  = callbackv1.CallbackState_CALLBACK_STATE_COMPLETED
	cancelled  = callbackv1.CallbackState_CALLBACK_STATE_CANCELLED
)

// id n is a fixed callback id, so the tests read as numbers.
func id(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

func requested(n int, service, phone string, at time.Time, desired time.Time) (string, proto.Message) {
	r := &callbackv1.CallbackRequest{Service: service, PhoneNumber: phone, RequestedAt: timestamppb.New(at),
		Subject: "not indexed", CaseData: map[string]string{"order": "A-17"}}
	if !desired.IsZero() {
		r.DesiredTime = timestamppb.New(desired)
	}
	return StreamPrefix + id(n), &callbackv1.CallbackRequested{CallbackId: id(n), Request: r}
}

func changed(n int, st callbackv1.CallbackState, agent string, at time.Time) (string, proto.Message) {
	return StreamPrefix + id(n), &callbackv1.CallbackStateChanged{CallbackId: id(n), State: st, AgentId: agent, At: timestamppb.New(at)}
}

// world: six callbacks of two services, a minute apart, in their
// various states; 4 arrives in the store before 3 (replicas' clocks), and
// a stream of something else and an event of an unknown callback are
// ignored.
func world() *Index {
	x := New()
	apply := func(s string, m proto.Message) { x.Apply(s, m) }
	apply(requested(1, "support", "+14155550001", t0, time.Time{}))
	apply(requested(2, "support", "+14155550002", t0.Add(time.Minute), t0.Add(5*time.Hour)))
	apply(requested(4, "sales", "+14155550001", t0.Add(3*time.Minute), time.Time{}))
	apply(requested(3, "sales", "+33612345678", t0.Add(2*time.Minute), time.Time{}))
	apply(requested(5, "support", "+14155550005", t0.Add(4*time.Minute), time.Time{}))
	apply(requested(6, "support", "+14155550006", t0.Add(5*time.Minute), t0.Add(2*time.Hour)))
	apply(changed(1, inProgress, "a1", t0.Add(10*time.Minute)))
	apply(changed(1, completed, "a1", t0.Add(20*time.Minute)))
	apply(changed(3, inProgress, "a2", t0.Add(11*time.Minute)))
	apply(StreamPrefix+id(5), &callbackv1.CallbackCancelled{CallbackId: id(5), At: timestamppb.New(t0.Add(12 * time.Minute))})
	apply(StreamPrefix+id(6), &callbackv1.CallbackRescheduleRequested{CallbackId: id(6),
		DesiredTime: timestamppb.New(t0.Add(30 * time.Hour)), At: timestamppb.New(t0.Add(13 * time.Minute))})
	apply(changed(99, queued, "", t0))
	apply(StreamPrefix+id(98), &callbackv1.CallbackVoided{CallbackId: id(98)})
	apply("intake-contact-x", &callbackv1.CallbackRequested{CallbackId: id(97)})
	return x
}

func TestList(t *testing.T) {
	x := world()
	if x.Len() != 6 {
		t.Fatalf("%d indexed", x.Len())
	}
	cases := []struct {
		name string
		f    Filter
		want []int // ids, newest request first
	}{
		{"everything, newest first", Filter{}, []int{6, 5, 4, 3, 2, 1}},
		{"one service", Filter{Services: []string{"sales"}}, []int{4, 3}},
		{"two services", Filter{Services: []string{"sales", "support"}}, []int{6, 5, 4, 3, 2, 1}},
		{"a service never seen", Filter{Services: []string{"billing"}}, nil},
		{"no service at all (a client of none)", Filter{Services: []string{}}, nil},
		{"open states", Filter{States: []callbackv1.CallbackState{scheduled, queued, inProgress}}, []int{6, 4, 3, 2}},
		{"completed", Filter{States: []callbackv1.CallbackState{completed}}, []int{1}},
		{"cancelled", Filter{States: []callbackv1.CallbackState{cancelled}}, []int{5}},
		{"a number across services", Filter{Phone: "+14155550001"}, []int{4, 1}},
		{"a number and a service", Filter{Phone: "+14155550001", Services: []string{"support"}}, []int{1}},
		{"a number never seen", Filter{Phone: "+14155559999"}, nil},
		{"not a number", Filter{Phone: "0612"}, nil},
		{"an agent", Filter{Agent: "a1"}, []int{1}},
		{"an agent never seen", Filter{Agent: "a9"}, nil},
		{"requested in [1m, 4m)", Filter{From: t0.Add(time.Minute), To: t0.Add(4 * time.Minute)}, []int{4, 3, 2}},
		{"requested from 4m", Filter{From: t0.Add(4 * time.Minute)}, []int{6, 5}},
		{"scheduled for within 6h (the reschedule moved 6 out)", Filter{Field: ScheduledFor, From: t0, To: t0.Add(6 * time.Hour)}, []int{2}},
		{"scheduled for the next day", Filter{Field: ScheduledFor, From: t0.Add(24 * time.Hour)}, []int{6}},
		{"updated after 11m", Filter{Field: UpdatedAt, From: t0.Add(11 * time.Minute)}, []int{6, 5, 3, 1}},
		{"everything at once", Filter{Services: []string{"sales"}, States: []callbackv1.CallbackState{inProgress}, Phone: "+33612345678",
			Agent: "a2", From: t0, To: t0.Add(time.Hour)}, []int{3}},
	}
	for _, c := range cases {
		items, next := x.List(c.f, nil, 50)
		var got []int
		for _, it := range items {
			var n int
			if _, err := fmt.Sscanf(it.ID[24:], "%d", &n); err != nil {
				t.Fatalf("%s: id %s: %v", c.name, it.ID, err)
			}
			got = append(got, n)
		}
		if !slices.Equal(got, c.want) || next != nil {
			t.Errorf("%s: %v (next %v), want %v", c.name, got, next, c.want)
		}
	}
}

// TestItem: what a list shows of a callback is the state its stream folds to.
func TestItem(t *testing.T) {
	x := world()
	items, _ := x.List(Filter{Phone: "+33612345678"}, nil, 1)
	want := Item{ID: id(3), State: "IN_PROGRESS", Service: "sales", PhoneNumber: "+33612345678", Agent: "a2",
		RequestedAt: t0.Add(2 * time.Minute), UpdatedAt: t0.Add(11 * time.Minute)}
	if len(items) != 1 || items[0] != want {
		t.Fatalf("%+v\nwant %+v", items, want)
	}
	items, _ = x.List(Filter{Services: []string{"support"}, States: []callbackv1.CallbackState{scheduled}}, nil, 1)
	if len(items) != 1 || items[0].ID != id(6) || !items[0].ScheduledFor.Equal(t0.Add(30*time.Hour)) {
		t.Fatalf("rescheduled: %+v", items)
	}
}

// TestPaging: pages of two walk every match once, in order, whatever is
// requested meanwhile (newer requests come before the first page, not
// into later ones); the last page has no cursor.
func TestPaging(t *testing.T) {
	x := world()
	var got []string
	var after *Cursor
	for page := 0; ; page++ {
		items, next := x.List(Filter{}, after, 2)
		for _, it := range items {
			got = append(got, it.ID)
		}
		if page == 0 {
			x.Apply(requested(7, "support", "+14155550007", t0.Add(time.Hour), time.Time{}))
		}
		if next == nil {
			if len(items) != 2 {
				t.Fatalf("last page of %d", len(items))
			}
			break
		}
		c, err := ParseCursor(next.String())
		if err != nil || c != *next {
			t.Fatalf("cursor %q: %v", next, err)
		}
		after = &c
	}
	if want := []string{id(6), id(5), id(4), id(3), id(2), id(1)}; !slices.Equal(got, want) {
		t.Fatalf("pages: %v", got)
	}
	// Exactly one page's worth: no cursor, no empty page after it.
	if items, next := x.List(Filter{Services: []string{"sales"}}, nil, 2); len(items) != 2 || next != nil {
		t.Fatalf("exact page: %d, %v", len(items), next)
	}
	// By number, which walks that number's callbacks only.
	got, after = nil, nil
	for {
		items, next := x.List(Filter{Phone: "+14155550001"}, after, 1)
		for _, it := range items {
			got = append(got, it.ID)
		}
		if next == nil {
			break
		}
		after = next
	}
	if want := []string{id(4), id(1)}; !slices.Equal(got, want) {
		t.Fatalf("pages by number: %v", got)
	}
	for _, bad := range []string{"", "x", "AAAA", "not base64!"} {
		if _, err := ParseCursor(bad); !errors.Is(err, ErrCursor) {
			t.Errorf("cursor %q: %v", bad, err)
		}
	}
}

// TestErase: an erased contact's number is neither shown nor found.
func TestErase(t *testing.T) {
	x := world()
	if n := x.Erase(func(number string) bool { return number == "+14155550001" }); n != 2 {
		t.Fatalf("erased %d", n)
	}
	if items, _ := x.List(Filter{Phone: "+14155550001"}, nil, 10); len(items) != 0 {
		t.Fatalf("found by an erased number: %v", items)
	}
	items, _ := x.List(Filter{Services: []string{"sales"}}, nil, 10)
	if len(items) != 2 || items[0].PhoneNumber != "[erased]" || items[1].PhoneNumber != "+33612345678" {
		t.Fatalf("%+v", items)
	}
}
