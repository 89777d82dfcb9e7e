package scheduler

import (
	"net/http"
	"time"

	"github.com/ringback/ringback/libs/availability"
	"github.com/ringback/ringback/libs/gms"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/libs/serviceconf"
)

// The availability of the GMS-compatible Callback API (README:
// GMS-compatible Callback API; intake has the other routes): GET
// /genesys/1 and /genesys/2/service/callback/{service}/availability, GMS's
// query answered in GMS's shape from the same bookings and office hours
// as GET /v1/services/{service}/availability. It is the scheduler's,
// not intake's, because the bookings are: the scheduler folds every slot
// stream into one view (bookings.go), where intake would read one stream
// per bucket for each query (a fortnight of 15-minute buckets is 1,344
// reads) or fold a second copy of the same view.

// gmsAvailability answers version (1 or 2) of GMS's availability query.
func (s *Service) gmsAvailability(version int) httpx.Func {
	return gms.Handle(func(w http.ResponseWriter, r *http.Request) error { return s.gmsSlots(w, r, version) }, nil)
}

func (s *Service) gmsSlots(w http.ResponseWriter, r *http.Request, version int) error {
	if err := s.proj.Ready(); err != nil {
		// A replica still folding would show slots as freer than they are.
		return httpx.Unavailable("the scheduler's view of the bookings is not ready yet")
	}
	name := r.PathValue("service")
	switch {
	case !serviceconf.ServiceName.MatchString(name):
		return gms.BadField("service", "a service is lower-case letters, digits and dashes, at most 63")
	case s.services != nil && !s.services.Has(name):
		return gms.NewError(http.StatusNotFound, "service", "no service "+name+" in the services file", gms.ExceptionResource)
	}
	svc := s.service(name)
	if svc.Capacity == nil || svc.Capacity.Bucket <= 0 {
		return gms.NewError(http.StatusNotFound, "service", "service "+name+" has no capacity configured, so it offers no slots", gms.ExceptionResource)
	}
	q, gerr := gms.ParseAvailability(r.URL.Query(), version, s.deps.Clock.Now(), svc.BookAhead)
	if gerr != nil {
		return gerr
	}
	aq := availability.Query{Hours: svc.Hours, Capacity: *svc.Capacity, From: q.Start, To: q.End, Max: q.Max, Busy: q.Busy}
	if q.Zone != nil {
		// Only what the scheduler would dial: the calling window in the
		// visitor's zone.
		aq.Window, aq.Zones = svc.Window, []*time.Location{q.Zone}
	}
	slots := availability.Slots(aq, s.bookings.Of(name))
	if version == 1 {
		httpx.WriteJSON(w, http.StatusOK, gms.V1(slots))
		return nil
	}
	httpx.WriteJSON(w, http.StatusOK, gms.NewV2(slots, svc.Capacity.Bucket, q.Zone))
	return nil
}
