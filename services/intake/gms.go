package intake

// The GMS-compatible Callback API: the routes of Genesys Mobile Services'
// Callback API (GMS 8.5) under /genesys/1/service/callback/{service}, so
// that a web site built for GMS can be pointed at ringback. A thin
// translation: each route decodes GMS's request into ours, runs the very
// path /v1 runs (submit, Callback, RescheduleCallback, CancelCallback:
// validation, dial plan, duplicates, Idempotency-Key, slots), and answers
// in GMS's shape (gms_view.go, libs/gms). Availability, from the bookings,
// is the scheduler's (/genesys/1 and /genesys/2 .../availability). README:
// GMS-compatible Callback API says what is mapped and what is not.

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/gms"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/services/intake/callback"
	"github.com/ringback/ringback/services/intake/index"
)

// gmsRoutes are the GMS-compatible API's rows of the route table, with the
// roles of their /v1 twins: anyone creates; reading, rescheduling and
// cancelling are for the supervisors and API clients of the service named
// in the path, and a callback of another service, or none, is answered as
// unknown (404 problem+json, as on /v1). gms.Handle answers each handler's
// errors in GMS's shape, their fields in GMS's names; the refusals of the
// guard (401, 403, 404) come before it, in problem+json as on /v1. GMS has
// a version 2 of availability only.
func (s *Service) gmsRoutes() []agentauth.Route {
	const (
		visitor = agentauth.RoleVisitor
		agent   = agentauth.RoleAgent
		super   = agentauth.RoleSupervisor
		client  = agentauth.RoleClient
	)
	return []agentauth.Route{
		{Pattern: "POST /genesys/1/service/callback/{service}", Roles: visitor | agent | super | client,
			Handle: gms.Handle(s.gmsCreate, gmsCreateNames)},
		{Pattern: "GET /genesys/1/service/callback/{service}", Roles: super | client, Entitle: gmsCovered,
			Handle: gms.Handle(s.gmsQuery, nil)},
		{Pattern: "GET /genesys/1/service/callback/{service}/{id}", Roles: super | client, Entitle: s.gmsEntitled,
			Handle: gms.Handle(s.gmsGet, nil)},
		{Pattern: "PUT /genesys/1/service/callback/{service}/{id}", Roles: super | client, Entitle: s.gmsEntitled,
			Handle: gms.Handle(s.gmsReschedule, gmsRescheduleNames)},
		{Pattern: "DELETE /genesys/1/service/callback/{service}/{id}", Roles: super | client, Entitle: s.gmsEntitled,
			Handle: gms.Handle(s.gmsCancel, nil)},
	}
}

// gmsCovered: the service in the path is the principal's.
func gmsCovered(r *http.Request, p agentauth.Principal) error {
	if !p.Covers(r.PathValue("service")) {
		return httpx.NotFound("no service " + r.PathValue("service"))
	}
	return nil
}

// gmsEntitled: the callback exists, is of the service in the path, and
// that service is the principal's.
func (s *Service) gmsEntitled(r *http.Request, p agentauth.Principal) error {
	id := r.PathValue("id")
	if !p.Covers(r.PathValue("service")) {
		return notFound(id)
	}
	_, err := s.gmsLoad(r)
	return err
}

// gmsLoad is the callback the path names, if it is of the path's service.
func (s *Service) gmsLoad(r *http.Request) (callback.State, error) {
	st, err := s.Callback(r.Context(), r.PathValue("id"))
	if err != nil {
		return st, err
	}
	if st.Request.GetService() != r.PathValue("service") {
		return callback.State{}, notFound(st.ID)
	}
	return st, nil
}

// gmsFields reads the body of a GMS request: form-encoded, as GMS's own
// examples send it, or a JSON object of strings (numbers and booleans are
// taken as their text). A key given twice, or a control character in a key
// or a value, is refused naming the key.
func gmsFields(w http.ResponseWriter, r *http.Request) (map[string]string, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, httpx.MaxBody))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return nil, gms.NewError(http.StatusRequestEntityTooLarge, "body", "must be at most "+strconv.Itoa(httpx.MaxBody)+" bytes", "")
	case err != nil:
		return nil, gms.BadField("body", "could not be read")
	case !utf8.Valid(body):
		return nil, gms.BadField("body", "must be valid UTF-8")
	}
	out := map[string]string{}
	switch mt {
	case "", "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, gms.BadField("body", "malformed form")
		}
		for k, vals := range v {
			if len(vals) > 1 {
				return nil, gms.BadField(k, "given more than once")
			}
			out[k] = vals[0]
		}
		if n, ok := out[gmsNumber]; ok && strings.Contains(string(body), gmsNumber+"=+") {
			// An international number's + sent unencoded (curl -d, a
			// hand-made form) decodes as a space: it was a +.
			out[gmsNumber] = "+" + strings.TrimPrefix(n, " ")
		}
	case "application/json":
		if err := httpx.CheckJSONType(r); err != nil {
			return nil, err
		}
		var m map[string]any
		if len(body) == 0 {
			break
		}
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, gms.BadField("body", "must be one JSON object")
		}
		for k, v := range m {
			switch v := v.(type) {
			case string:
				out[k] = v
			case float64:
				out[k] = strconv.FormatFloat(v, 'f', -1, 64)
			case bool:
				out[k] = strconv.FormatBool(v)
			default:
				return nil, gms.BadField(k, "must be a string")
			}
		}
	default:
		return nil, gms.NewError(http.StatusUnsupportedMediaType, "Content-Type",
			"must be application/x-www-form-urlencoded or application/json", "")
	}
	for k, v := range out {
		if err := httpx.CheckText(k, k, false); err != nil {
			return nil, err
		}
		if err := httpx.CheckText(k, v, false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// gmsCreate: POST /genesys/1/service/callback/{service}. GMS answers 200
// with the callback's _id; ringback adds where it stands and its address,
// nothing personal (a retry with the same Idempotency-Key gets the same).
func (s *Service) gmsCreate(w http.ResponseWriter, r *http.Request) error {
	// The per-address limit first, before anything is decoded, as for
	// POST /v1/callbacks; submit applies the rest (admitRequest).
	if err := s.admitAddress(r); err != nil {
		return err
	}
	service := r.PathValue("service")
	if err := s.knownService(service); err != nil {
		return gms.NewError(http.StatusNotFound, "service", "no service of this name takes callbacks", gms.ExceptionResource)
	}
	fields, err := gmsFields(w, r)
	if err != nil {
		return err
	}
	req, err := parseGMSCreate(service, fields, s.region)
	if err != nil {
		return err
	}
	return s.submit(w, r, req, s.gmsAnswer)
}

func (s *Service) gmsAnswer(w http.ResponseWriter, _ *http.Request, _ bool, st callback.State) {
	rec := gmsRecord(st, s.cfg.ServiceSet.Of(st.Request.GetService()), false)
	w.Header().Set("Location", rec["_url"])
	httpx.WriteJSON(w, http.StatusOK, rec)
}

// gmsGet: GET .../{service}/{id}, the callback's record.
func (s *Service) gmsGet(w http.ResponseWriter, r *http.Request) error {
	st, err := s.gmsLoad(r)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, gmsRecord(st, s.cfg.ServiceSet.Of(st.Request.GetService()), true))
	return nil
}

// gmsReschedule: PUT .../{service}/{id} with _new_desired_time. GMS
// answers 200 with no body; GMS's client libraries take a body for an
// error.
func (s *Service) gmsReschedule(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.gmsLoad(r); err != nil {
		return err
	}
	fields, err := gmsFields(w, r)
	if err != nil {
		return err
	}
	at, err := parseGMSReschedule(fields)
	if err != nil {
		return err
	}
	desired, err := httpx.ParseTime("desired_time", at)
	if err != nil {
		return err
	}
	who := agentauth.Who(r.Context())
	// A move still before the router (ErrMovePending) is recorded: GMS
	// has no 202, and its state is for the site to read later.
	_, err = s.RescheduleCallback(r.Context(), r.PathValue("id"), desired, who.ID, "rescheduled through the GMS API by "+by(who))
	if _, err := moveStatus(err); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// gmsCancel: DELETE .../{service}/{id}. GMS answers 200 with no body. A
// callback an agent is handling is not ended here (409): a supervisor
// ends one with a reason on /v1.
func (s *Service) gmsCancel(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.gmsLoad(r); err != nil {
		return err
	}
	who := agentauth.Who(r.Context())
	cmd := callback.Cancel{At: s.deps.Clock.Now(), Reason: "cancelled through the GMS API by " + by(who), By: who.ID}
	if _, err := s.CancelCallback(r.Context(), r.PathValue("id"), cmd); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// by names who asked, for a callback's history.
func by(p agentauth.Principal) string {
	switch {
	case p.Has(agentauth.RoleClient):
		return "the API client " + p.ID
	case p.Has(agentauth.RoleSupervisor):
		return "supervisor " + p.ID
	}
	return "an open platform's caller"
}

// Bounds of a query by properties: the answers, and the callbacks read
// from the store for it (each answer is one; a site's key is matched on
// the callback's stream, so a search by one reads candidates newest first
// until it has its answers or this many).
const (
	gmsQueryMax   = 100
	gmsQueryReads = 1000
)

// gmsQuery: GET .../{service}?key=value..., the callbacks of the service
// that have the properties asked (operand AND, the default, or OR), newest
// first: the callbacks' index (ListCallbacks) finds them by number, state
// and id, holding whatever was written before the request.
func (s *Service) gmsQuery(w http.ResponseWriter, r *http.Request) error {
	service := r.PathValue("service")
	if s.cfg.ServiceSet != nil && !s.cfg.ServiceSet.Has(service) {
		return gms.NewError(http.StatusNotFound, "service", "no service "+service+" in the services file", gms.ExceptionResource)
	}
	f, err := parseGMSQuery(r.URL.Query(), s.region)
	if err != nil {
		return err
	}
	out := []map[string]string{}
	filter := index.Filter{Services: []string{service}}
	if !f.or {
		if f.byState && len(f.states) == 0 {
			httpx.WriteJSON(w, http.StatusOK, out) // ROUTING: never
			return nil
		}
		filter.Phone, filter.States = f.number, f.states
	}
	svc := s.cfg.ServiceSet.Of(service)
	reads := 0
	var after *index.Cursor
	for len(out) < gmsQueryMax && reads < gmsQueryReads {
		items, next, err := s.ListCallbacks(r.Context(), filter, after, 200)
		if err != nil {
			return err
		}
		for _, it := range items {
			if len(out) == gmsQueryMax || reads == gmsQueryReads {
				break
			}
			match, sure := f.decided(it)
			if sure && !match {
				continue
			}
			reads++
			st, err := s.Callback(r.Context(), it.ID)
			if errors.Is(err, callback.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			if sure || f.matchCase(st.Request.GetCaseData()) {
				out = append(out, gmsRecord(st, svc, true))
			}
		}
		if next == nil {
			break
		}
		after = next
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}
