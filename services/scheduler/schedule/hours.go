package schedule

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
// (no windows) is always open.
type Hours struct {
	Windows []Window
	Loc     *time.Location // nil means UTC
}

// AlwaysOpen says whether the hours never move a callback.
func (h Hours) AlwaysOpen() bool { return len(h.Windows) == 0 }

// Next is the earliest instant at or after t when the service is open.
func (h Hours) Next(t time.Time) time.Time {
	if h.AlwaysOpen() {
		return t
	}
	loc := h.Loc
	if loc == nil {
		loc = time.UTC
	}
	local := t.In(loc)
	y, m, d := local.Date()
	// A week and a day covers every weekday and today's later part again.
	for day := 0; day <= 7; day++ {
		var best time.Time
		for _, w := range h.Windows {
			// time.Date normalises the day overflow and DST gaps for us.
			date := time.Date(y, m, d+day, 0, 0, 0, 0, loc)
			if !w.Days[date.Weekday()] {
				continue
			}
			open, close := at(date, w.Open), at(date, w.Close)
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
	return t // unreachable for hours that passed ParseHours
}

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
