// Package callwindow is the calling window in the contact's local time: the
// wall-clock hours (08:00–21:00 by default) in which a contact may be dialled,
// whatever the service's own office hours. A contact whose zone is uncertain
// (a number with several zones) gets only the hours every zone allows.
//
// Pure: no I/O, no clock. Zones come from the Go tz database (time/tzdata is
// embedded, so every IANA name resolves on any machine) and, for a number,
// from the numbering data compiled into github.com/nyaruka/phonenumbers.
package callwindow

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // every IANA zone resolves, also without /usr/share/zoneinfo

	"github.com/nyaruka/phonenumbers"
)

// Window is the wall-clock span, every day, in which a contact may be
// dialled: [Start, End) since local midnight. End 24h closes at midnight;
// Start 0 and End 24h is always open.
type Window struct {
	Start, End time.Duration
}

// Default is the window when none is configured: 08:00–21:00.
var Default = Window{Start: 8 * time.Hour, End: 21 * time.Hour}

// Full is always open (tests, demos).
var Full = Window{Start: 0, End: 24 * time.Hour}

// AlwaysOpen says whether the window never closes.
func (w Window) AlwaysOpen() bool { return w.Start <= 0 && w.End >= 24*time.Hour }

func (w Window) String() string { return clock(w.Start) + "–" + clock(w.End) }

func clock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// Parse reads "HH:MM-HH:MM" (24:00 closes at midnight), e.g. "08:00-21:00";
// "off" or "00:00-24:00" is always open.
func Parse(s string) (Window, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "always" {
		return Full, nil
	}
	a, b, ok := strings.Cut(strings.ReplaceAll(s, "–", "-"), "-")
	if !ok {
		return Window{}, fmt.Errorf("calling window %q: want HH:MM-HH:MM", s)
	}
	start, err := parseClock(strings.TrimSpace(a))
	if err != nil {
		return Window{}, fmt.Errorf("calling window %q: %w", s, err)
	}
	end, err := parseClock(strings.TrimSpace(b))
	if err != nil {
		return Window{}, fmt.Errorf("calling window %q: %w", s, err)
	}
	if end <= start {
		return Window{}, fmt.Errorf("calling window %q: end must be after start", s)
	}
	return Window{Start: start, End: end}, nil
}

func parseClock(s string) (time.Duration, error) {
	var h, m int
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	if _, err := fmt.Sscanf(s, "%02d:%02d", &h, &m); err != nil {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	if h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("%q is not a time of day", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// LoadZone resolves an IANA zone name as a contact's zone; "" and names
// that are not zones (including "Local") are errors.
func LoadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" || strings.ContainsAny(name, " \\") || strings.HasPrefix(name, "/") {
		return nil, fmt.Errorf("%q is not an IANA time zone", name)
	}
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	// time.LoadLocation reads and parses the zone's file each time: on the
	// path of every callback and call (issue 13's cost).
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q is not an IANA time zone", name)
	}
	zones.Store(name, loc)
	return loc, nil
}

// zones holds the zones loaded: only names that are zones, a few hundred
// at most, whatever requests ask.
var zones sync.Map

// Zones are a contact's possible zones: the request's zone if it is a valid
// IANA name (the browser's own), else the zones of the number, else
// fallback (the service's zone; UTC when nil).
func Zones(number, requestTZ string, fallback *time.Location) []*time.Location {
	if loc, err := LoadZone(requestTZ); err == nil {
		return []*time.Location{loc}
	}
	if zs := NumberZones(number); len(zs) > 0 {
		return zs
	}
	if fallback == nil {
		fallback = time.UTC
	}
	return []*time.Location{fallback}
}

// NumberZones are the zones the numbering plan gives an E.164 number,
// sorted by name; nil when unknown.
func NumberZones(number string) []*time.Location {
	num, err := phonenumbers.Parse(number, "ZZ")
	if err != nil {
		return nil
	}
	names, err := phonenumbers.GetTimezonesForNumber(num)
	if err != nil {
		return nil
	}
	var out []*time.Location
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		if loc, err := LoadZone(n); err == nil {
			out = append(out, loc)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Names lists the zones' names, for messages: "Europe/London",
// "America/Chicago, America/New_York".
func Names(zones []*time.Location) string {
	n := make([]string, len(zones))
	for i, z := range zones {
		n[i] = z.String()
	}
	return strings.Join(n, ", ")
}

// inside says whether t is inside the window in zone loc.
func (w Window) inside(t time.Time, loc *time.Location) bool {
	l := t.In(loc)
	since := time.Duration(l.Hour())*time.Hour + time.Duration(l.Minute())*time.Minute +
		time.Duration(l.Second())*time.Second + time.Duration(l.Nanosecond())
	return since >= w.Start && since < w.End
}

// Allowed says whether t is inside the window in every zone. No zones:
// allowed (nothing known to protect).
func Allowed(t time.Time, zones []*time.Location, w Window) bool {
	if w.AlwaysOpen() {
		return true
	}
	for _, z := range zones {
		if !w.inside(t, z) {
			return false
		}
	}
	return true
}

// Horizon is how far NextOpening looks before it gives up: zones that
// never share an opening.
const Horizon = 14 * 24 * time.Hour

// NextOpening is the earliest instant at or after t inside the window in
// every zone, to the nanosecond, across DST gaps and overlaps; false when
// there is none within Horizon.
func NextOpening(t time.Time, zones []*time.Location, w Window) (time.Time, bool) {
	if Allowed(t, zones, w) {
		return t, true
	}
	// Candidates: t itself, and every instant a zone's window opens. The
	// first candidate inside every zone is the answer, since the set of
	// allowed instants is a union of intervals, each starting at some
	// zone's opening (or at t).
	limit := t.Add(Horizon)
	best, found := time.Time{}, false
	for _, c := range openings(t, limit, zones, w) {
		if Allowed(c, zones, w) && (!found || c.Before(best)) {
			best, found = c, true
		}
	}
	return best, found
}

// openings are the instants in (t, limit] at which the window opens in some
// zone: local Start each day or, where Start falls in a DST gap, the first
// instant after it, and also each DST transition (a clock jumping forward
// into the window opens it too).
func openings(t, limit time.Time, zones []*time.Location, w Window) []time.Time {
	var out []time.Time
	for _, z := range zones {
		l := t.In(z)
		for d := 0; d <= int(Horizon/(24*time.Hour))+1; d++ {
			// A civil date, at noon: midnight may not exist (a gap).
			date := time.Date(l.Year(), l.Month(), l.Day()+d, 12, 0, 0, 0, time.UTC)
			for _, c := range wallInstants(date, w.Start, z) {
				if c.After(t) && !c.After(limit) {
					out = append(out, c)
				}
			}
		}
		// Zone transitions: a clock jumping into the window opens it.
		for u := t; u.Before(limit); {
			_, end := u.In(z).ZoneBounds()
			if end.IsZero() || end.After(limit) {
				break
			}
			if end.After(t) {
				out = append(out, end)
			}
			u = end
		}
	}
	return out
}

// wallInstants are the instants at which the local clock of zone z shows
// since-midnight on date's civil day (two in an overlap), or, when that wall time
// does not exist (a gap), the transition that skips it.
func wallInstants(date time.Time, since time.Duration, z *time.Location) []time.Time {
	h, m := int(since/time.Hour), int(since%time.Hour/time.Minute)
	c := time.Date(date.Year(), date.Month(), date.Day(), h, m, 0, 0, z)
	out := []time.Time{c}
	// Overlap: the same wall time an hour (or other offset change) later.
	// time.Date picks one of the two; look on both sides.
	for _, delta := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		for _, o := range []time.Time{c.Add(delta).In(z), c.Add(-delta).In(z)} {
			if o.Hour() == h && o.Minute() == m && o.Day() == date.Day() {
				out = append(out, o)
			}
		}
	}
	return out
}

// Services are windows per service: "HH:MM-HH:MM" for every service, or
// entries "SERVICE=HH:MM-HH:MM" separated by ";" ("*" or no SERVICE: the
// others). A service not listed, with no "*", gets Default.
type Services map[string]Window

// Of is the window of a service.
func (s Services) Of(service string) Window {
	if w, ok := s[service]; ok {
		return w
	}
	if w, ok := s["*"]; ok {
		return w
	}
	return Default
}

// ParseServices reads Services; errors name the service.
func ParseServices(spec string) (Services, error) {
	out := Services{}
	for entry := range strings.SplitSeq(spec, ";") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		service, w, ok := strings.Cut(entry, "=")
		if !ok {
			service, w = "*", entry
		}
		service = strings.TrimSpace(service)
		if service == "" {
			return nil, fmt.Errorf("%q: want SERVICE=HH:MM-HH:MM", entry)
		}
		if _, dup := out[service]; dup {
			return nil, fmt.Errorf("service %q given twice", service)
		}
		win, err := Parse(w)
		if err != nil {
			return nil, fmt.Errorf("service %q: %w", service, err)
		}
		out[service] = win
	}
	return out, nil
}
