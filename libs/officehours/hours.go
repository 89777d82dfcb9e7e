// Package officehours is a service's calendar: the weekly opening windows in
// the service's own zone, with holidays and special days, and the next
// instant the service is open. Pure: no I/O, no clock; zones are resolved by
// the caller. Shared by the scheduler (when a callback may fall due) and the
// services file (libs/serviceconf), which must not import a service.
package officehours

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Window is one opening of a service: the same hours on each of its days.
type Window struct {
	Days  [7]bool       // indexed by time.Weekday
	Open  time.Duration // since local midnight
	Close time.Duration // since local midnight, after Open, at most 24h
}

// Hours are a service's office hours in its own time zone. The zero Hours
// (no windows, no days set apart) is always open.
type Hours struct {
	Windows []Window
	Loc     *time.Location // nil means UTC
	// Holidays are local dates the service is closed all day.
	Holidays map[Date]bool
	// Special are local dates with their own openings instead of the
	// weekly windows (a short Christmas Eve, an opened Sunday).
	Special map[Date][]Span
}

// Date is a local calendar date of the service.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf is the date of t in its own zone.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// ParseDate reads YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// Span is one opening on a day: [Open, Close) since local midnight.
type Span struct{ Open, Close time.Duration }

// ParseSpan reads "HH:MM-HH:MM" (24:00 closes at midnight).
func ParseSpan(s string) (Span, error) {
	open, close, err := parseRange(strings.TrimSpace(s))
	return Span{open, close}, err
}

// AlwaysOpen says whether the hours never move a callback.
func (h Hours) AlwaysOpen() bool {
	return len(h.Windows) == 0 && len(h.Holidays) == 0 && len(h.Special) == 0
}

// Location is the service's zone (UTC when unset).
func (h Hours) Location() *time.Location {
	if h.Loc == nil {
		return time.UTC
	}
	return h.Loc
}

// allDay is the opening of a day without weekly windows.
var allDay = []Span{{0, 24 * time.Hour}}

// Openings are the spans the service is open on local date d, in order.
func (h Hours) Openings(d Date) []Span {
	if h.Holidays[d] {
		return nil
	}
	if sp, ok := h.Special[d]; ok {
		return sp
	}
	if len(h.Windows) == 0 {
		return allDay
	}
	wd := time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Weekday()
	var out []Span
	for _, w := range h.Windows {
		if w.Days[wd] {
			out = append(out, Span{w.Open, w.Close})
		}
	}
	return out
}

// maxClosedDays bounds the search for the next opening: a service closed
// for more than a year is a configuration error, not a calendar.
const maxClosedDays = 400

// Next is the earliest instant at or after t when the service is open; t
// itself when no opening comes within maxClosedDays.
func (h Hours) Next(t time.Time) time.Time {
	if h.AlwaysOpen() {
		return t
	}
	loc := h.Location()
	y, m, d := t.In(loc).Date()
	for day := 0; day <= maxClosedDays; day++ {
		// time.Date normalises the day overflow and DST gaps for us.
		date := time.Date(y, m, d+day, 0, 0, 0, 0, loc)
		var best time.Time
		for _, sp := range h.Openings(DateOf(date)) {
			open, close := at(date, sp.Open), at(date, sp.Close)
			if !t.Before(open) && t.Before(close) {
				return t
			}
			if open.After(t) && (best.IsZero() || open.Before(best)) {
				best = open
			}
		}
		if !best.IsZero() {
			return best
		}
	}
	return t
}

// Open says whether the service is open at t.
func (h Hours) Open(t time.Time) bool { return h.Next(t).Equal(t) }

// at is the wall-clock time since midnight on date, in date's zone.
func at(date time.Time, since time.Duration) time.Time {
	y, m, d := date.Date()
	return time.Date(y, m, d, 0, int(since/time.Minute), 0, 0, date.Location())
}

// ParseHours reads one service's hours: windows separated by commas, then an
// optional IANA zone (default UTC), e.g. "Mon-Fri 08:00-20:00, Sat 09:00-12:00
// Europe/Paris". Days are Mon..Sun, a single day or a range (Fri-Mon wraps);
// times are HH:MM, 24:00 closes at midnight. A window cannot span midnight:
// write it as two. The zone is resolved by loadLocation (time.LoadLocation),
// passed in so this package reads no files.
func ParseHours(spec string, loadLocation func(string) (*time.Location, error)) (Hours, error) {
	fields := strings.Fields(strings.ReplaceAll(spec, ",", " , "))
	var h Hours
	for i := 0; i < len(fields); {
		if fields[i] == "," {
			i++
			continue
		}
		days, err := parseDays(fields[i])
		if err != nil {
			if i == len(fields)-1 && len(h.Windows) > 0 {
				loc, lerr := loadLocation(fields[i])
				if lerr != nil {
					return Hours{}, fmt.Errorf("time zone %q: %w", fields[i], lerr)
				}
				h.Loc = loc
				break
			}
			return Hours{}, err
		}
		if i+1 >= len(fields) {
			return Hours{}, fmt.Errorf("%q has no hours", fields[i])
		}
		open, close, err := parseRange(fields[i+1])
		if err != nil {
			return Hours{}, err
		}
		h.Windows = append(h.Windows, Window{Days: days, Open: open, Close: close})
		i += 2
	}
	if len(h.Windows) == 0 {
		return Hours{}, fmt.Errorf("no opening window in %q", spec)
	}
	return h, nil
}

var weekdays = map[string]time.Weekday{"mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday, "sun": time.Sunday}

func parseDays(s string) ([7]bool, error) {
	var days [7]bool
	from, to, isRange := strings.Cut(s, "-")
	first, ok := weekdays[strings.ToLower(from)]
	if !ok {
		return days, fmt.Errorf("day %q: want Mon, Tue, Wed, Thu, Fri, Sat or Sun", from)
	}
	last := first
	if isRange {
		if last, ok = weekdays[strings.ToLower(to)]; !ok {
			return days, fmt.Errorf("day %q: want Mon, Tue, Wed, Thu, Fri, Sat or Sun", to)
		}
	}
	for d := first; ; d = (d + 1) % 7 {
		days[d] = true
		if d == last {
			return days, nil
		}
	}
}

func parseRange(s string) (open, close time.Duration, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("hours %q: want HH:MM-HH:MM", s)
	}
	if open, err = parseClock(a); err != nil {
		return 0, 0, err
	}
	if close, err = parseClock(b); err != nil {
		return 0, 0, err
	}
	if close <= open {
		return 0, 0, fmt.Errorf("hours %q: closes before it opens (split a window over midnight in two)", s)
	}
	return open, close, nil
}

func parseClock(s string) (time.Duration, error) {
	hh, mm, ok := strings.Cut(s, ":")
	h, herr := strconv.Atoi(hh)
	m, merr := strconv.Atoi(mm)
	if !ok || !twoDigits(hh) || !twoDigits(mm) || herr != nil || merr != nil || h > 24 || m > 59 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("time %q: want HH:MM between 00:00 and 24:00", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

func twoDigits(s string) bool {
	return len(s) == 2 && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9'
}
