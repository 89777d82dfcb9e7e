package gms

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ringback/ringback/libs/availability"
	"github.com/ringback/ringback/libs/callwindow"
)

// Bounds of an availability query, as the scheduler's own route has them:
// a fortnight at most (GMS's default booking horizon too), a page of slots.
const (
	MaxRange = 14 * 24 * time.Hour
	MaxSlots = 1000
	// DefaultDays is how far a query that gives neither end nor
	// number-of-days looks: the day from start.
	DefaultDays = 1
)

// AvailabilityQuery is a GMS availability query, checked.
type AvailabilityQuery struct {
	Start, End time.Time
	Max        int
	// Zone (v2 timezone) is the visitor's: the slots are also given in it
	// and kept to the calling window there. Nil: none given.
	Zone *time.Location
	// Busy (v2 report-busy) lists full slots too, with no place left.
	Busy bool
}

// parameters of each version of GET .../availability.
var parameters = map[int][]string{
	1: {"start", "number-of-days", "end", "max-time-slots"},
	2: {"start", "start-ms", "number-of-days", "end", "end-ms", "max-time-slots", "timezone", "report-busy"},
}

// ParseAvailability reads the query of GET
// /genesys/{version}/service/callback/{service}/availability at now, for a
// service that books at most ahead from now. A start in the past is now; an
// end past the booking limit is the limit (a site asking for a week of a
// service that books three days gets the three). end (or end-ms) wins over
// number-of-days when both are given. Every error names its parameter.
func ParseAvailability(v url.Values, version int, now time.Time, ahead time.Duration) (AvailabilityQuery, *Error) {
	var q AvailabilityQuery
	known := parameters[version]
	for k, vals := range v {
		if !slices.Contains(known, k) {
			return q, BadField(k, "unknown parameter: version "+strconv.Itoa(version)+" takes "+strings.Join(known, ", "))
		}
		if len(vals) > 1 {
			return q, BadField(k, "given more than once")
		}
	}
	start, err := instant(v, "start", "start-ms")
	if err != nil {
		return q, err
	}
	q.Start = now
	if !start.IsZero() && start.After(now) {
		q.Start = start
	}
	limit := now.Add(ahead)
	if !q.Start.Before(limit) {
		return q, BadField(param(v, "start", "start-ms"), "the service books at most "+span(ahead)+" ahead")
	}
	end, err := instant(v, "end", "end-ms")
	if err != nil {
		return q, err
	}
	switch {
	case !end.IsZero():
		if !end.After(q.Start) {
			return q, BadField(param(v, "end", "end-ms"), "must be after start (and after now)")
		}
		if end.Sub(q.Start) > MaxRange {
			return q, BadField(param(v, "end", "end-ms"), "at most "+span(MaxRange)+" after start")
		}
		q.End = end
	default:
		days := DefaultDays
		if s := v.Get("number-of-days"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > int(MaxRange/(24*time.Hour)) {
				return q, BadField("number-of-days", "must be a whole number from 1 to "+strconv.Itoa(int(MaxRange/(24*time.Hour))))
			}
			days = n
		}
		q.End = q.Start.Add(time.Duration(days) * 24 * time.Hour)
	}
	if q.End.After(limit) {
		q.End = limit
	}
	q.Max = MaxSlots
	if s := v.Get("max-time-slots"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxSlots {
			return q, BadField("max-time-slots", "must be a whole number from 1 to "+strconv.Itoa(MaxSlots))
		}
		q.Max = n
	}
	if z := v.Get("timezone"); z != "" {
		loc, err := callwindow.LoadZone(z)
		if err != nil {
			return q, BadField("timezone", "must be an IANA time zone such as Europe/London")
		}
		q.Zone = loc
	}
	if b := v.Get("report-busy"); b != "" {
		busy, err := strconv.ParseBool(b)
		if err != nil {
			return q, BadField("report-busy", "must be true or false")
		}
		q.Busy = busy
	}
	return q, nil
}

// instant reads a time given as ISO 8601 (name) or epoch milliseconds
// (name-ms, version 2); zero if neither.
func instant(v url.Values, name, ms string) (time.Time, *Error) {
	iso, epoch := v.Get(name), v.Get(ms)
	switch {
	case iso != "" && epoch != "":
		return time.Time{}, BadField(ms, "give "+name+" or "+ms+", not both")
	case iso != "":
		t, err := ParseTime(iso)
		if err != nil {
			return time.Time{}, BadField(name, err.Error())
		}
		return t, nil
	case epoch != "":
		n, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, BadField(ms, "must be milliseconds since 1970-01-01T00:00:00Z")
		}
		return time.UnixMilli(n).UTC(), nil
	}
	return time.Time{}, nil
}

// param names the form of a time the query used.
func param(v url.Values, name, ms string) string {
	if v.Get(ms) != "" {
		return ms
	}
	return name
}

// span writes a bound the way the services file does.
func span(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

// V1 is the answer of version 1: each slot's start, in GMS's format, with
// the places left.
func V1(slots []availability.Slot) map[string]int {
	out := make(map[string]int, len(slots))
	for _, s := range slots {
		out[FormatTime(s.Start)] = s.Free()
	}
	return out
}

// V2 is the answer of version 2.
type V2 struct {
	// DurationMin is the length of a slot (the service's bucket).
	DurationMin int `json:"durationMin"`
	// Timezone is the query's, that of every LocalTime.
	Timezone string   `json:"timezone,omitempty"`
	Slots    []V2Slot `json:"slots"`
}

// V2Slot is one slot: its start in UTC and, with a timezone, in local
// time without an offset; the places left (capacity) of all (total).
type V2Slot struct {
	UTCTime   string `json:"utcTime"`
	LocalTime string `json:"localTime,omitempty"`
	Capacity  int    `json:"capacity"`
	Total     int    `json:"total"`
}

// NewV2 is the version 2 answer of slots of a service whose buckets are
// bucket long, shown in zone (nil: UTC only).
func NewV2(slots []availability.Slot, bucket time.Duration, zone *time.Location) V2 {
	out := V2{DurationMin: int(bucket / time.Minute), Slots: make([]V2Slot, len(slots))}
	if zone != nil {
		out.Timezone = zone.String()
	}
	for i, s := range slots {
		v := V2Slot{UTCTime: FormatTime(s.Start), Capacity: s.Free(), Total: s.Capacity}
		if zone != nil {
			v.LocalTime = s.Start.In(zone).Format("2006-01-02T15:04:05.000")
		}
		out.Slots[i] = v
	}
	return out
}
