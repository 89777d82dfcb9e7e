package schedule

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/callwindow"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

func TestDueTimeInTheCallingWindow(t *testing.T) {
	london, _ := time.LoadLocation("Europe/London")
	la, _ := time.LoadLocation("America/Los_Angeles")
	night := time.Date(2026, 11, 25, 3, 0, 0, 0, london) // a Wednesday
	paris := paris(t)
	sat := Hours{Loc: paris}
	sat.Windows = []Window{{Days: [7]bool{time.Saturday: true}, Open: 9 * time.Hour, Close: 12 * time.Hour}}
	for _, tc := range []struct {
		name    string
		number  string
		tz      string
		desired time.Time
		now     time.Time
		hours   Hours
		w       callwindow.Window
		want    time.Time
		reason  string // "" : not moved
	}{
		{"inside", "+442079460123", "", time.Time{}, night.Add(7 * time.Hour), Hours{}, callwindow.Default, night.Add(7 * time.Hour), ""},
		{"asap at night", "+442079460123", "", time.Time{}, night, Hours{}, callwindow.Default,
			time.Date(2026, 11, 25, 8, 0, 0, 0, london), "moved to 08:00 Europe/London: outside the calling window 08:00–21:00"},
		{"wish at night", "+442079460123", "", night.Add(20 * time.Hour), night, Hours{}, callwindow.Default,
			time.Date(2026, 11, 26, 8, 0, 0, 0, london), "moved to Thu 26 Nov 08:00 Europe/London: outside the calling window 08:00–21:00"},
		{"browser zone wins", "+442079460123", "America/Los_Angeles", time.Time{}, time.Date(2026, 11, 25, 10, 0, 0, 0, london), Hours{}, callwindow.Default,
			time.Date(2026, 11, 25, 8, 0, 0, 0, la), "moved to 08:00 America/Los_Angeles: outside"},
		{"full window", "+442079460123", "", time.Time{}, night, Hours{}, callwindow.Full, night, ""},
		{"no window configured", "+442079460123", "", time.Time{}, night, Hours{}, callwindow.Window{}, night, ""},
		// Office hours Saturday 09:00–12:00 Paris = 08:00–11:00 London: both hold from 09:00 Paris.
		{"with office hours", "+442079460123", "", time.Time{}, night, sat, callwindow.Default,
			time.Date(2026, 11, 28, 9, 0, 0, 0, paris), ""},
	} {
		r := &callbackv1.CallbackRequest{PhoneNumber: tc.number, Timezone: tc.tz}
		got, moved := DueTimeIn(tc.desired, tc.now, tc.hours, tc.w, r)
		if !got.Equal(tc.want) {
			t.Errorf("%s: due %v, want %v", tc.name, got, tc.want)
		}
		switch {
		case tc.reason == "" && moved != nil:
			t.Errorf("%s: moved %v", tc.name, moved)
		case tc.reason != "" && (moved == nil || !strings.HasPrefix(moved.Reason, tc.reason)):
			t.Errorf("%s: move %v, want reason %q", tc.name, moved, tc.reason)
		case moved != nil && !moved.From.AsTime().Equal(DueTime(tc.desired, tc.now, tc.hours)):
			t.Errorf("%s: moved from %v", tc.name, moved.From.AsTime())
		}
	}
}

func TestDecideMovesByTheWindow(t *testing.T) {
	london, _ := time.LoadLocation("Europe/London")
	night := time.Date(2026, 11, 25, 3, 0, 0, 0, london)
	r := &callbackv1.CallbackRequest{Service: "support", PhoneNumber: "+442079460123", RequestedAt: timestamppb.New(night)}
	out, err := Decide(State{}, Schedule{ID: "c1", Request: r, At: night, Window: callwindow.Default})
	if err != nil || len(out) != 1 {
		t.Fatalf("schedule at night: %v, %v (want CallbackScheduled only, not due)", out, err)
	}
	sch := out[0].(*callbackv1.CallbackScheduled)
	if sch.MovedByWindow == nil || !sch.DueAt.AsTime().Equal(night.Add(5*time.Hour)) || sch.MovedByWindow.Zones[0] != "Europe/London" {
		t.Fatalf("scheduled %v", sch)
	}
	// A reschedule by an agent into the night moves as well.
	s := fold(sch)
	out, err = Decide(s, Reschedule{DueAt: night.Add(22 * time.Hour), At: night.Add(6 * time.Hour), Window: callwindow.Default, Reason: "rescheduled by agent a1"})
	if err != nil || len(out) != 1 {
		t.Fatalf("reschedule: %v, %v", out, err)
	}
	rs := out[0].(*callbackv1.CallbackRescheduled)
	if rs.MovedByWindow == nil || !rs.DueAt.AsTime().Equal(night.Add(29*time.Hour)) {
		t.Fatalf("rescheduled %v", rs)
	}
}
