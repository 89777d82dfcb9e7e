package scheduler

import (
	"net/http"
	"strconv"
	"time"

	"github.com/ringback/ringback/libs/availability"
	"github.com/ringback/ringback/libs/callwindow"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/libs/serviceconf"
)

// Bounds of an availability query: a web page offers a fortnight at most
// (GMS's default booking horizon too), and a page of slots.
const (
	maxAvailabilityRange = 14 * 24 * time.Hour
	defaultSlots         = 100
	maxSlots             = 1000
)

// availabilityView is the answer of GET /v1/services/{service}/availability.
type availabilityView struct {
	Service  string                  `json:"service"`
	Timezone string                  `json:"timezone"`
	Slots    []availability.SlotView `json:"slots"`
}

// availabilityQuery is a request's query, checked: every error names its
// parameter.
type availabilityQuery struct {
	service    serviceconf.Service
	start, end time.Time
	max        int
	zone       *time.Location // the contact's; nil: none given
}

func (s *Service) parseAvailability(r *http.Request, now time.Time) (availabilityQuery, error) {
	var q availabilityQuery
	name := r.PathValue("service")
	if !serviceconf.ServiceName.MatchString(name) {
		return q, httpx.BadField("service", "a service is lower-case letters, digits and dashes, at most 63")
	}
	q.service = s.service(name)
	if q.service.Capacity == nil || q.service.Capacity.Bucket <= 0 {
		// Without a capacity a service has no slots to book: any time in
		// its hours is fine, so there is nothing to list.
		p := httpx.NotFound("service " + name + " has no capacity configured, so it offers no slots")
		p.Field = "service"
		return q, p
	}
	v := r.URL.Query()
	for _, k := range []string{"start", "end", "max", "timezone"} {
		if len(v[k]) > 1 {
			return q, httpx.BadField(k, "given more than once")
		}
	}
	for k := range v {
		switch k {
		case "start", "end", "max", "timezone":
		default:
			return q, httpx.BadField(k, "unknown parameter: start, end, max and timezone are")
		}
	}
	q.start = now
	if t := v.Get("start"); t != "" {
		at, err := time.Parse(time.RFC3339, t)
		if err != nil {
			return q, httpx.BadField("start", "must be an RFC 3339 time such as 2026-12-07T09:00:00+01:00")
		}
		q.start = later(at, now) // past slots are not bookable
		if !q.start.Before(now.Add(q.service.BookAhead)) {
			return q, httpx.BadField("start", "the service books at most "+span(q.service.BookAhead)+" ahead")
		}
	}
	horizon := min(maxAvailabilityRange, q.service.BookAhead)
	q.end = q.start.Add(horizon)
	if t := v.Get("end"); t != "" {
		at, err := time.Parse(time.RFC3339, t)
		if err != nil {
			return q, httpx.BadField("end", "must be an RFC 3339 time such as 2026-12-08T09:00:00+01:00")
		}
		if !at.After(q.start) {
			return q, httpx.BadField("end", "must be after start (and after now)")
		}
		if at.Sub(q.start) > horizon {
			return q, httpx.BadField("end", "at most "+span(horizon)+" after start")
		}
		q.end = at
	}
	if limit := now.Add(q.service.BookAhead); q.end.After(limit) {
		if v.Get("end") != "" {
			return q, httpx.BadField("end", "the service books at most "+span(q.service.BookAhead)+" ahead")
		}
		q.end = limit
	}
	q.max = defaultSlots
	if m := v.Get("max"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1 || n > maxSlots {
			return q, httpx.BadField("max", "must be a whole number from 1 to "+strconv.Itoa(maxSlots))
		}
		q.max = n
	}
	if z := v.Get("timezone"); z != "" {
		loc, err := callwindow.LoadZone(z)
		if err != nil {
			return q, httpx.BadField("timezone", "must be an IANA time zone such as Europe/London")
		}
		q.zone = loc
	}
	return q, nil
}

// span writes a bound the way the services file does.
func span(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

// availability lists a service's open slots with room left. Visitors may
// call it: it shows counts, never who booked.
func (s *Service) availability(w http.ResponseWriter, r *http.Request) error {
	if err := s.proj.Ready(); err != nil {
		// A replica still folding would show slots as freer than they are.
		return httpx.Unavailable("the scheduler's view of the bookings is not ready yet")
	}
	q, err := s.parseAvailability(r, s.deps.Clock.Now())
	if err != nil {
		return err
	}
	aq := availability.Query{Hours: q.service.Hours, Capacity: *q.service.Capacity, From: q.start, To: q.end, Max: q.max}
	show := q.service.Hours.Location()
	if q.zone != nil {
		// Only what the scheduler would dial: the calling window in the
		// contact's zone, and the times in that zone.
		aq.Window, aq.Zones, show = q.service.Window, []*time.Location{q.zone}, q.zone
	}
	slots := availability.Slots(aq, s.bookings.Of(q.service.Name))
	httpx.WriteJSON(w, http.StatusOK, availabilityView{Service: q.service.Name, Timezone: show.String(),
		Slots: availability.Views(slots, show)})
	return nil
}

func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}
