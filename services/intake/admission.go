package intake

import (
	"net/http"
	"slices"
	"strings"

	"github.com/ringback/ringback/libs/dialplan"
	"github.com/ringback/ringback/libs/httpx"
)

// admitRequest is everything a callback request must pass, once it is
// well formed, before intake reads or writes anything for it (issue 12):
// a service intake knows (404), a number the service calls back (its
// countries: 400; its block list: 403), the proof of work when the
// service asks for one (pow.go: 403), and the rate limits per number and
// service (limits.go: 429). Every create path calls it, after
// admitAddress (which it calls first, before decoding anything):
// POST /v1/callbacks and the GMS create.
func (s *Service) admitRequest(r *http.Request, service, number string) error {
	if err := s.knownService(service); err != nil {
		return err
	}
	if err := s.admitNumber(service, number); err != nil {
		return err
	}
	if err := s.checkProof(r, service, number); err != nil {
		return err
	}
	return s.admitRate(service, number)
}

// knownService refuses a service intake does not know: not in the
// services file when there is one ("*" configures the unlisted, it does
// not admit them), else not in --router.services when given. Without
// either, any well-formed name passes (the binary warns at start). Every
// service name accepted makes a queue in the router and the scheduler: a
// name made up per request would grow them without bound.
func (s *Service) knownService(service string) error {
	switch {
	case s.cfg.ServiceSet != nil && !s.cfg.ServiceSet.Has(service),
		s.cfg.ServiceSet == nil && len(s.cfg.Services) > 0 && !slices.Contains(s.cfg.Services, service):
		p := httpx.NotFound("no service of this name takes callbacks")
		p.Field = "service"
		return p
	}
	return nil
}

// admitNumber applies the service's own number rules from the services
// file, beyond the binary's dial plan (which callback.Validate applied):
// its countries, and its block list. A blocked number is refused without
// saying which pattern, so the list cannot be read by probing it.
func (s *Service) admitNumber(service, number string) error {
	if s.cfg.ServiceSet == nil {
		return nil
	}
	svc := s.cfg.ServiceSet.Of(service)
	if len(svc.Countries) > 0 {
		plan := s.plan
		plan.Countries = svc.Countries
		if len(s.plan.Countries) > 0 { // within the binary's
			plan.Countries = slices.DeleteFunc(slices.Clone(svc.Countries), func(c string) bool { return !slices.Contains(s.plan.Countries, c) })
		}
		err := plan.Check(number)
		if len(plan.Countries) == 0 {
			err = &dialplan.RefusedError{Reason: dialplan.ErrCountry}
		}
		if err != nil {
			return httpx.BadField("phone_number", "cannot be called back: "+strings.TrimPrefix(err.Error(), "refused by the dial plan: "))
		}
	}
	if svc.BlockedNumber(number) {
		p := httpx.Forbidden("this service does not call this number back")
		p.Field = "phone_number"
		return p
	}
	return nil
}
