package availability

import (
	"slices"
	"time"

	"github.com/ringback/ringback/libs/callwindow"
	"github.com/ringback/ringback/libs/officehours"
	"github.com/ringback/ringback/libs/serviceconf"
)

// Slot is the part of one bucket the service is open, with its room.
type Slot struct {
	// Bucket is the start of the bucket the slot is part of: the key its
	// bookings are counted under. Start may be later (the service opens
	// within the bucket, or the range starts within it).
	Bucket     time.Time
	Start, End time.Time
	Capacity   int
	Booked     int
}

// Free is the room left, never negative (a capacity lowered below the
// bookings already made is full, not negative).
func (s Slot) Free() int { return max(0, s.Capacity-s.Booked) }

// Query asks for the slots of one service.
type Query struct {
	Hours    officehours.Hours
	Capacity serviceconf.Capacity
	// From, To bound the slots: only [From, To) is listed.
	From, To time.Time
	// Max slots listed; 0 is no limit.
	Max int
	// Window, when set, keeps only slots wholly inside the calling window
	// in every one of Zones (the contact's), as the scheduler would dial.
	Window callwindow.Window
	Zones  []*time.Location
	// Busy lists full slots too (GMS's report-busy), with no room left.
	Busy bool
}

// Booked tells how many callbacks the bucket starting at start holds.
type Booked func(start time.Time) int

// Slots are the open slots of q with room left, in time order, at most
// q.Max: each bucket that meets an opening of the service's hours (holidays
// and special days included) and whose weekday has a capacity; full ones
// too if q.Busy.
func Slots(q Query, booked Booked) []Slot {
	var out []Slot
	walk(q, booked, func(s Slot) bool {
		if s.Free() > 0 || q.Busy {
			out = append(out, s)
		}
		return q.Max <= 0 || len(out) < q.Max
	})
	return out
}

// walk calls fn with every open slot of q in time order, full ones too,
// until fn returns false.
func walk(q Query, booked Booked, fn func(Slot) bool) {
	size := q.Capacity.Bucket
	if size <= 0 || !q.From.Before(q.To) {
		return
	}
	loc := q.Hours.Location()
	filter := q.Window != (callwindow.Window{}) && !q.Window.AlwaysOpen() && len(q.Zones) > 0
	var (
		pending Slot // the slot being built: a bucket may meet two openings
		have    bool
	)
	flush := func() bool {
		if !have {
			return true
		}
		have = false
		if filter && !(callwindow.Allowed(pending.Start, q.Zones, q.Window) &&
			callwindow.Allowed(pending.End.Add(-time.Nanosecond), q.Zones, q.Window)) {
			return true
		}
		pending.Booked = booked(pending.Bucket)
		return fn(pending)
	}
	y, m, d := q.From.In(loc).Date()
	for day := 0; ; day++ {
		// The calendar in UTC, where every day has its midnight.
		date := officehours.DateOf(time.Date(y, m, d+day, 0, 0, 0, 0, time.UTC))
		if !wallClock(date, 0, loc).Before(q.To) {
			break
		}
		for _, sp := range q.Hours.Openings(date) {
			open, close := wallClock(date, sp.Open, loc), wallClock(date, sp.Close, loc)
			open, close = later(open, q.From), earlier(close, q.To)
			for b := BucketStart(open, loc, size); b.Before(close); {
				e := BucketEnd(b, loc, size)
				start, end := later(b, open), earlier(e, close)
				switch {
				case have && pending.Bucket.Equal(b):
					pending.End = end
				default:
					if !flush() {
						return
					}
					capacity := q.Capacity.PerBucket[b.In(loc).Weekday()]
					pending, have = Slot{Bucket: b, Start: start, End: end, Capacity: capacity}, capacity > 0
				}
				b = e
			}
		}
	}
	flush()
}

// Nearest are up to n slots with room nearest to at, in time order, among
// those of q.
func Nearest(q Query, booked Booked, at time.Time, n int) []Slot {
	q.Max = 0
	all := Slots(q, booked)
	SortByNearness(all, at)
	all = all[:min(n, len(all))]
	slices.SortFunc(all, func(a, b Slot) int { return a.Start.Compare(b.Start) })
	return all
}

// SortByNearness orders slots by how far their start is from at (zero for
// the slot holding at); of two as far, the later first: a visitor who
// cannot have their time is rather called a little later than before they
// are ready.
func SortByNearness(slots []Slot, at time.Time) {
	dist := func(s Slot) time.Duration {
		if !at.Before(s.Start) && at.Before(s.End) {
			return 0
		}
		if d := s.Start.Sub(at); d > 0 {
			return d
		}
		return at.Sub(s.Start)
	}
	slices.SortFunc(slots, func(a, b Slot) int {
		if da, db := dist(a), dist(b); da != db {
			return int(da - db)
		}
		return b.Start.Compare(a.Start)
	})
}

// wallClock is the instant of the wall-clock time since midnight on local
// date d in loc; a time the clocks skipped (midnight itself in Havana or
// Santiago) is the instant they skipped it. time.Date normalises such a
// time past the gap or before it, depending on the zone: both are undone.
func wallClock(d officehours.Date, since time.Duration, loc *time.Location) time.Time {
	t := time.Date(d.Year, d.Month, d.Day, 0, int(since/time.Minute), 0, 0, loc)
	w := t.In(loc)
	want := time.Date(d.Year, d.Month, d.Day, 0, int(since/time.Minute), 0, 0, time.UTC)
	got := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), time.UTC)
	switch {
	case got.After(want): // past the gap: it began where this offset did
		if zs, _ := w.ZoneBounds(); !zs.IsZero() {
			return zs
		}
	case got.Before(want): // before the gap: it begins where this offset ends
		if _, ze := w.ZoneBounds(); !ze.IsZero() {
			return ze
		}
	}
	return t
}

func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if a.After(b) {
		return b
	}
	return a
}

// SlotView is a slot as the API shows it (GET
// /v1/services/{service}/availability, and the free slots of a 409).
type SlotView struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Capacity int       `json:"capacity"`
	Booked   int       `json:"booked"`
	Free     int       `json:"free"`
}

// Views are slots shown in loc: the offsets a visitor reads.
func Views(slots []Slot, loc *time.Location) []SlotView {
	out := make([]SlotView, len(slots))
	for i, s := range slots {
		out[i] = SlotView{Start: s.Start.In(loc), End: s.End.In(loc), Capacity: s.Capacity, Booked: s.Booked, Free: s.Free()}
	}
	return out
}
