package availability

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/callwindow"
	"github.com/ringback/ringback/libs/officehours"
	"github.com/ringback/ringback/libs/serviceconf"
)

func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func every(n int) [7]int { return [7]int{n, n, n, n, n, n, n} }

func hours(t testing.TB, spec string) officehours.Hours {
	t.Helper()
	h, err := officehours.ParseHours(spec, time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// show renders slots as "15:04Z07:00-15:04 free" lines in loc.
func show(slots []Slot, loc *time.Location) string {
	var b strings.Builder
	for _, s := range slots {
		fmt.Fprintf(&b, "%s-%s %d/%d\n", s.Start.In(loc).Format("Jan 2 15:04Z07:00"), s.End.In(loc).Format("15:04Z07:00"), s.Booked, s.Capacity)
	}
	return b.String()
}

func TestSlots(t *testing.T) {
	paris, ny := zone(t, "Europe/Paris"), zone(t, "America/New_York")
	day := func(loc *time.Location, y int, m time.Month, d int) (time.Time, time.Time) {
		return time.Date(y, m, d, 0, 0, 0, 0, loc), time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	}
	type want struct {
		n           int    // slots listed
		first, last string // show() of the first and last slot
		total       time.Duration
	}
	officeParis := hours(t, "Mon-Fri 08:00-20:00, Sat 09:00-12:00 Europe/Paris")
	officeParis.Holidays = map[officehours.Date]bool{{Year: 2026, Month: 12, Day: 25}: true}
	officeParis.Special = map[officehours.Date][]officehours.Span{{Year: 2026, Month: 12, Day: 24}: {{Open: 8 * time.Hour, Close: 13 * time.Hour}}}
	weekdayCap := [7]int{0, 10, 10, 10, 10, 10, 4} // Sunday none, Saturday 4
	cases := []struct {
		name   string
		q      Query
		booked map[string]int // "Jan 2 15:04" in the service's zone -> count
		want   want
	}{
		{name: "Paris spring forward: 23 hours, 46 half hours, none at 02:xx",
			q: func() Query {
				f, to := day(paris, 2026, 3, 29)
				return Query{Hours: officehours.Hours{Loc: paris}, Capacity: serviceconf.Capacity{Bucket: 30 * time.Minute, PerBucket: every(1)}, From: f, To: to}
			}(),
			want: want{n: 46, first: "Mar 29 00:00+01:00-00:30+01:00 0/1\n", last: "Mar 29 23:30+02:00-00:00+02:00 0/1\n", total: 23 * time.Hour}},
		{name: "Paris fall back: 25 hours, the repeated hour twice",
			q: func() Query {
				f, to := day(paris, 2026, 10, 25)
				return Query{Hours: officehours.Hours{Loc: paris}, Capacity: serviceconf.Capacity{Bucket: 30 * time.Minute, PerBucket: every(1)}, From: f, To: to}
			}(),
			want: want{n: 50, first: "Oct 25 00:00+02:00-00:30+02:00 0/1\n", last: "Oct 25 23:30+01:00-00:00+01:00 0/1\n", total: 25 * time.Hour}},
		{name: "New York spring forward, hour buckets",
			q: func() Query {
				f, to := day(ny, 2026, 3, 8)
				return Query{Hours: officehours.Hours{Loc: ny}, Capacity: serviceconf.Capacity{Bucket: time.Hour, PerBucket: every(2)}, From: f, To: to}
			}(),
			want: want{n: 23, first: "Mar 8 00:00-05:00-01:00-05:00 0/2\n", last: "Mar 8 23:00-04:00-00:00-04:00 0/2\n", total: 23 * time.Hour}},
		{name: "New York fall back, two-hour buckets split at the change",
			q: func() Query {
				f, to := day(ny, 2026, 11, 1)
				return Query{Hours: officehours.Hours{Loc: ny}, Capacity: serviceconf.Capacity{Bucket: 2 * time.Hour, PerBucket: every(2)}, From: f, To: to}
			}(),
			// 00:00-02:00 EDT (shown as 01:00 EST), 01-02 EST after the change, 02-04, ..., 22-24.
			want: want{n: 13, first: "Nov 1 00:00-04:00-01:00-05:00 0/2\n", last: "Nov 1 22:00-05:00-00:00-05:00 0/2\n", total: 25 * time.Hour}},
		{name: "holiday: closed all day",
			q: func() Query {
				f, to := day(paris, 2026, 12, 25)
				return Query{Hours: officeParis, Capacity: serviceconf.Capacity{Bucket: 30 * time.Minute, PerBucket: weekdayCap}, From: f, To: to}
			}(),
			want: want{n: 0}},
		{name: "special day: a short Christmas Eve",
			q: func() Query {
				f, to := day(paris, 2026, 12, 24)
				return Query{Hours: officeParis, Capacity: serviceconf.Capacity{Bucket: 30 * time.Minute, PerBucket: weekdayCap}, From: f, To: to}
			}(),
			want: want{n: 10, first: "Dec 24 08:00+01:00-08:30+01:00 0/10\n", last: "Dec 24 12:30+01:00-13:00+01:00 0/10\n", total: 5 * time.Hour}},
		{name: "weekday capacity: Saturday holds 4, one full bucket left out, Sunday none",
			q: func() Query {
				f, _ := day(paris, 2026, 12, 5) // a Saturday
				_, to := day(paris, 2026, 12, 6)
				return Query{Hours: officeParis, Capacity: serviceconf.Capacity{Bucket: 30 * time.Minute, PerBucket: weekdayCap}, From: f, To: to}
			}(),
			booked: map[string]int{"Dec 5 09:00": 3, "Dec 5 09:30": 4, "Dec 5 11:30": 9},
			want:   want{n: 4, first: "Dec 5 09:00+01:00-09:30+01:00 3/4\n", last: "Dec 5 11:00+01:00-11:30+01:00 0/4\n", total: 2 * time.Hour}},
		{name: "max",
			q: func() Query {
				f, to := day(paris, 2026, 12, 7)
				return Query{Hours: officeParis, Capacity: serviceconf.Capacity{Bucket: 15 * time.Minute, PerBucket: weekdayCap}, From: f, To: to, Max: 3}
			}(),
			want: want{n: 3, first: "Dec 7 08:00+01:00-08:15+01:00 0/10\n", last: "Dec 7 08:30+01:00-08:45+01:00 0/10\n", total: 45 * time.Minute}},
		{name: "range starting inside a bucket, hours opening inside another",
			q: func() Query {
				h := hours(t, "Mon-Fri 08:15-09:00, Mon-Fri 09:10-09:20 Europe/Paris")
				return Query{Hours: h, Capacity: serviceconf.Capacity{Bucket: 30 * time.Minute, PerBucket: every(1)},
					From: time.Date(2026, 12, 7, 8, 20, 0, 0, paris), To: time.Date(2026, 12, 8, 0, 0, 0, 0, paris)}
			}(),
			want: want{n: 3, first: "Dec 7 08:20+01:00-08:30+01:00 0/1\n", last: "Dec 7 09:10+01:00-09:20+01:00 0/1\n", total: 50 * time.Minute}},
		{name: "calling window in the contact's zone: New York 09:00 is 15:00 in Paris",
			q: func() Query {
				f, to := day(paris, 2026, 12, 7)
				return Query{Hours: officeParis, Capacity: serviceconf.Capacity{Bucket: 30 * time.Minute, PerBucket: weekdayCap}, From: f, To: to,
					Window: callwindow.Window{Start: 9 * time.Hour, End: 21 * time.Hour}, Zones: []*time.Location{ny}}
			}(),
			want: want{n: 10, first: "Dec 7 15:00+01:00-15:30+01:00 0/10\n", last: "Dec 7 19:30+01:00-20:00+01:00 0/10\n", total: 5 * time.Hour}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			loc := c.q.Hours.Location()
			booked := map[int64]int{}
			for at, n := range c.booked {
				w, err := time.ParseInLocation("2006 Jan 2 15:04", "2026 "+at, loc)
				if err != nil {
					t.Fatal(err)
				}
				booked[w.Unix()] = n
			}
			got := Slots(c.q, func(start time.Time) int { return booked[start.Unix()] })
			var total time.Duration
			for i, s := range got {
				total += s.End.Sub(s.Start)
				if i > 0 && s.Start.Before(got[i-1].End) {
					t.Errorf("slot %d overlaps the one before:\n%s", i, show(got[i-1:i+1], loc))
				}
				if !BucketStart(s.Start, loc, c.q.Capacity.Bucket).Equal(s.Bucket) {
					t.Errorf("slot %s is not in its bucket %s", s.Start, s.Bucket)
				}
			}
			if len(got) != c.want.n {
				t.Fatalf("%d slots, want %d:\n%s", len(got), c.want.n, show(got, loc))
			}
			if c.want.n == 0 {
				return
			}
			if f, l := show(got[:1], loc), show(got[len(got)-1:], loc); f != c.want.first || l != c.want.last {
				t.Errorf("first %q last %q; want %q %q", f, l, c.want.first, c.want.last)
			}
			if total != c.want.total {
				t.Errorf("slots cover %s, want %s:\n%s", total, c.want.total, show(got, loc))
			}
		})
	}
}

func TestNearest(t *testing.T) {
	paris := zone(t, "Europe/Paris")
	h := hours(t, "Mon-Fri 09:00-12:00 Europe/Paris")
	q := Query{Hours: h, Capacity: serviceconf.Capacity{Bucket: 30 * time.Minute, PerBucket: every(2)},
		From: time.Date(2026, 12, 7, 0, 0, 0, 0, paris), To: time.Date(2026, 12, 9, 0, 0, 0, 0, paris)}
	full := map[int64]bool{}
	for _, hm := range []string{"10:00", "10:30", "11:00"} {
		w, _ := time.ParseInLocation("2006-01-02 15:04", "2026-12-07 "+hm, paris)
		full[w.Unix()] = true
	}
	booked := func(s time.Time) int {
		if full[s.Unix()] {
			return 2
		}
		return 0
	}
	// 10:00, 10:30 and 11:00 are full: 09:30 and 11:30 are 70 and 50
	// minutes from 10:40, 09:00 100; the next morning is far.
	got := Nearest(q, booked, time.Date(2026, 12, 7, 10, 40, 0, 0, paris), 3)
	if s := show(got, paris); s != "Dec 7 09:00+01:00-09:30+01:00 0/2\nDec 7 09:30+01:00-10:00+01:00 0/2\nDec 7 11:30+01:00-12:00+01:00 0/2\n" {
		t.Errorf("nearest:\n%s", s)
	}
}

func TestStreamRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)
	svc, start, err := ParseStream(Stream("after-sales", at))
	if err != nil || svc != "after-sales" || start != at.Unix() {
		t.Fatalf("ParseStream = %q %d %v", svc, start, err)
	}
	for _, bad := range []string{"scheduler-callback-x", "scheduler-slot-x", "scheduler-slot--12", "scheduler-slot-a-b"} {
		if _, _, err := ParseStream(bad); err == nil {
			t.Errorf("ParseStream(%q) accepted", bad)
		}
	}
}
