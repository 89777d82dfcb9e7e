package intake

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/callwindow"
	"github.com/ringback/ringback/libs/consistency"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/libs/timetravel"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/intake/callback"
	"github.com/ringback/ringback/services/intake/contact"
)

// routeTable is every route of intake and who may call it (issue 16): the
// visitor creates and cancels, and is shown nothing personal afterwards
// (visitorView); an API client creates, reads and cancels the callbacks of
// its services; reading a callback, with the contact's personal data, is
// for the agent who accepted it and the supervisors of its service, and
// anyone else is answered as for an unknown callback. A supervisor may end
// a callback an agent is handling (cancel).
func (s *Service) routeTable() []agentauth.Route {
	const (
		visitor = agentauth.RoleVisitor
		agent   = agentauth.RoleAgent
		super   = agentauth.RoleSupervisor
		client  = agentauth.RoleClient
	)
	routes := []agentauth.Route{
		// An agent may try the web form in the browser they are signed in with.
		{Pattern: "POST /v1/callbacks", Roles: visitor | agent | super | client, Handle: s.create},
		// The callbacks of the caller's services, searched (list.go).
		{Pattern: "GET /v1/callbacks", Roles: super | client, Handle: s.list},
		{Pattern: "GET /v1/callbacks/{id}", Roles: agent | super | client, Entitle: s.entitled, Handle: s.get},
		// The visitor cancels through the signed self-service link
		// (DELETE /v1/self/{token}): a callback id alone is no credential.
		{Pattern: "DELETE /v1/callbacks/{id}", Roles: super | client, Entitle: s.entitled, Handle: s.cancel},
		// The visitor moves their callback through the signed self-service
		// link, not here: this is for the service's clients and supervisors.
		{Pattern: "PUT /v1/callbacks/{id}", Roles: super | client, Entitle: s.entitled, Handle: s.reschedule},
		{Pattern: "PATCH /v1/callbacks/{id}", Roles: super | client, Entitle: s.entitled, Handle: s.reschedule},
		{Pattern: "POST /v1/callbacks/{id}/reassign", Roles: super, Entitle: s.entitled, Handle: s.reassign},
		// The proof of work a service may ask of the form (pow.go).
		{Pattern: "GET /v1/challenge", Roles: agentauth.Everyone, Handle: s.challenge},
		{Pattern: "GET /callback/pow.js", Roles: agentauth.Everyone, Handle: s.powScript},
	}
	return append(append(routes, s.selfRoutes()...), s.webRoutes()...)
}

// Routes is the service's route table, for the binary's list of every
// route and its roles (GET /admin/routes) and the route × role test.
func (s *Service) Routes() []agentauth.Route { return append(s.routeTable(), s.gmsRoutes()...) }

func (s *Service) routes(mux *http.ServeMux) {
	// A client's consistency token (Ringback-After) is honoured on every
	// route of ours, as by every service with a read model (the list's
	// index); not on GMS's, whose query takes any key as a property.
	routes := append(consistency.Routes(s.proj, consistency.DefaultWait, s.routeTable()), s.gmsRoutes()...)
	agentauth.Register(mux, s.deps.Log, s.agents, routes)
}

// entitled: the agent who accepted the callback's interaction, a
// supervisor or client of its service, or a visitor (who is shown nothing
// personal); for anyone else the callback does not exist.
func (s *Service) entitled(r *http.Request, p agentauth.Principal) error {
	st, err := s.load(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if p.Roles != agentauth.RoleVisitor && !p.IsAgent(st.Agent) && !p.Covers(st.Request.GetService()) {
		return notFound(st.ID)
	}
	return nil
}

func notFound(id string) *httpx.Problem { return httpx.NotFound("no callback " + id) }

// visitorView is what an anonymous caller is shown of a callback once
// agents authenticate: its id and where it stands, nothing personal, since
// anyone who knows or guesses an Idempotency-Key may replay a POST.
type visitorView struct {
	ID           string     `json:"id"`
	State        string     `json:"state"`
	Service      string     `json:"service"`
	ScheduledFor *time.Time `json:"scheduled_for,omitempty"`
	Attempts     int        `json:"attempts"`
	Reason       string     `json:"reason,omitempty"`
	// SelfService: in a create answer, the visitor's link (self.go).
	SelfService *selfLink `json:"self_service,omitempty"`
}

// show answers st in full on an open platform, to its agent and to the
// supervisors and clients of its service; anyone else sees the visitorView.
func (s *Service) show(r *http.Request, st callback.State) any {
	v := present(st)
	if p := agentauth.Who(r.Context()); s.agents.Open() || p.IsAgent(st.Agent) || p.Covers(st.Request.GetService()) {
		return v
	}
	return visitorView{ID: v.ID, State: v.State, Service: v.Service, ScheduledFor: v.ScheduledFor, Attempts: v.Attempts, Reason: v.Reason}
}

// createRequest is the body of POST /v1/callbacks (api/openapi.yaml).
type createRequest struct {
	Service     string            `json:"service"`
	PhoneNumber string            `json:"phone_number"`
	Subject     string            `json:"subject"`
	ContactName string            `json:"contact_name"`
	CaseData    map[string]string `json:"case_data"`
	DesiredTime string            `json:"desired_time"`
	// Timezone is the contact's IANA zone, as the browser gives it; the
	// calling window is kept in it. Empty: the zones of the number.
	Timezone string `json:"timezone"`
	// PreferredAgent is offered the callback first, when Ready within the
	// service's preferred_wait (issue 11).
	PreferredAgent string `json:"preferred_agent"`
}

// callbackView is a callback as the API shows it.
type callbackView struct {
	ID            string            `json:"id"`
	State         string            `json:"state"`
	Service       string            `json:"service"`
	PhoneNumber   string            `json:"phone_number"`
	Subject       string            `json:"subject,omitempty"`
	ContactName   string            `json:"contact_name,omitempty"`
	CaseData      map[string]string `json:"case_data,omitempty"`
	DesiredTime   *time.Time        `json:"desired_time,omitempty"`
	ScheduledFor  *time.Time        `json:"scheduled_for,omitempty"`
	InteractionID string            `json:"interaction_id,omitempty"`
	Disposition   string            `json:"disposition,omitempty"`
	// Attempts are the calls made to the contact so far; Reason why it
	// completed unreached (FAIL_BUSY, FAIL_EXPIRED…); Moves why its due
	// time moved, oldest first (issue 11).
	Attempts int      `json:"attempts"`
	Reason   string   `json:"reason,omitempty"`
	Moves    []string `json:"moves,omitempty"`
	// MovePending: rescheduled as it was being offered to agents (a 202
	// to the move), and the router has not said yet whether the move came
	// first (manage.go).
	MovePending bool      `json:"move_pending,omitempty"`
	RequestedAt time.Time `json:"requested_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	SelfService *selfLink `json:"self_service,omitempty"`
}

func present(st callback.State) callbackView {
	v := callbackView{ID: st.ID, State: strings.TrimPrefix(st.Status.String(), "CALLBACK_STATE_"),
		Service: st.Request.GetService(), PhoneNumber: st.Request.GetPhoneNumber(), Subject: st.Request.GetSubject(),
		ContactName: st.Request.GetContactName(), CaseData: st.Request.GetCaseData(), InteractionID: st.InteractionID,
		Disposition: st.Disposition, RequestedAt: st.Request.GetRequestedAt().AsTime(), UpdatedAt: st.UpdatedAt,
		Attempts: st.Attempts, Reason: st.Reason, Moves: st.Moves, MovePending: st.MoveAsked}
	if !st.Desired.IsZero() {
		t := st.Desired
		v.DesiredTime = &t
	}
	if !st.ScheduledFor.IsZero() {
		t := st.ScheduledFor
		v.ScheduledFor = &t
	}
	return v
}

// idNamespace derives a callback id from an Idempotency-Key, so a client
// retrying a POST gets the same callback back.
var idNamespace = uuid.MustParse("2f1d1f6a-5a47-4e55-8a6e-0b7bb5a8f3c4")

func (s *Service) create(w http.ResponseWriter, r *http.Request) error {
	if err := s.admitAddress(r); err != nil {
		return err
	}
	var req createRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	return s.submit(w, r, req, s.answerV1)
}

// answer writes the callback a request was accepted for: created says it is
// new, else the request is a retry with the same Idempotency-Key. The GMS
// API answers in its own shape (gms.go).
type answer func(w http.ResponseWriter, r *http.Request, created bool, st callback.State)

func (s *Service) answerV1(w http.ResponseWriter, r *http.Request, created bool, st callback.State) {
	w.Header().Set("Location", "/v1/callbacks/"+st.ID)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	s.answerCreate(w, r, status, st)
}

// submit validates and records a request, decoded by its API, and answers
// it with ans: the one path of every callback request, whichever API it
// came through.
func (s *Service) submit(w http.ResponseWriter, r *http.Request, req createRequest, ans answer) error {
	if p := agentauth.Who(r.Context()); p.Has(agentauth.RoleClient) && !p.Covers(req.Service) {
		// An API client's key is scoped to its services (issue 16).
		refused := httpx.Forbidden("this API client may not request callbacks for this service")
		refused.Field = "service"
		return refused
	}
	now := s.deps.Clock.Now()
	desired, err := callback.Validate(callback.Input{Service: req.Service, PhoneNumber: req.PhoneNumber,
		Subject: req.Subject, ContactName: req.ContactName, CaseData: req.CaseData, DesiredTime: req.DesiredTime,
		Plan: s.plan}, now)
	var fe *callback.FieldError
	if errors.As(err, &fe) {
		return httpx.BadField(fe.Field, fe.Reason)
	}
	if req.Timezone != "" {
		if _, err := callwindow.LoadZone(req.Timezone); err != nil {
			return httpx.BadField("timezone", "must be an IANA time zone, such as Europe/London")
		}
	}
	if req.PreferredAgent != "" && !agentauth.ValidID(req.PreferredAgent) {
		return httpx.BadField("preferred_agent", "must be an agent id: letters, digits, '.', '_' or '-', at most 64")
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 {
		return httpx.BadField("Idempotency-Key", "must be at most 255 characters")
	}
	if err := s.admitRequest(r, req.Service, req.PhoneNumber); err != nil {
		return err
	}
	id := uuid.NewString()
	if key != "" {
		id = s.idOf(key)
	}
	cbr := &callbackv1.CallbackRequest{Service: req.Service, PhoneNumber: req.PhoneNumber, Subject: req.Subject,
		ContactName: req.ContactName, CaseData: req.CaseData, RequestedAt: timestamppb.New(now), Timezone: req.Timezone,
		PreferredAgent: req.PreferredAgent}
	if !desired.IsZero() {
		cbr.DesiredTime = timestamppb.New(desired)
	}
	// A full or closed slot is refused before anything is claimed.
	if err := s.checkSlot(r.Context(), id, key != "", cbr, now); err != nil {
		return err
	}

	if !s.cfg.claiming() {
		return s.request(w, r, id, cbr, now, ans, nil)
	}
	// A retried POST whose callback is written answers it, and claims
	// nothing: its number may be held by that very callback. (Without a
	// key the id is new: nothing to look for.)
	if key != "" {
		if l, err := eventstore.Load(r.Context(), s.deps.Store, callback.Stream(id), aggregate); err != nil {
			return err
		} else if l.State.Exists {
			if !sameRequest(l.State.Request, cbr) {
				return keyReused()
			}
			ans(w, r, false, l.State)
			return nil
		} else if l.State.Voided {
			return keyAbandoned()
		}
	}
	stream, err := s.contactStream(r.Context(), req.PhoneNumber)
	if err != nil {
		return err
	}
	// Decided again at every attempt of the request's append: a claim
	// whose stream another request moved meanwhile is decided anew.
	claim := func(ctx context.Context) (*eventstore.Part, error) {
		return s.planClaim(ctx, stream, id, req.Service, req.PhoneNumber)
	}
	return s.request(w, r, id, cbr, now, ans, claim)
}

// claimRefused is the answer to a claim the number's stream refused; nil
// for any other error.
func (s *Service) claimRefused(err error) error {
	var held *contact.HeldError
	var capped *contact.CapError
	var rated *contact.RateError
	switch {
	case errors.As(err, &held):
		return s.duplicate(held.Holder)
	case errors.As(err, &capped):
		p := httpx.Conflict(fmt.Sprintf("this number has %d open callbacks, the most it may have; cancel one or wait until one is done", capped.Max))
		p.Field = "phone_number"
		return p
	case errors.As(err, &rated):
		// The number's rate across every replica, from its claim stream:
		// this replica's bucket let it through, the others' had not.
		return s.tooMany(limitNumber, "phone_number", "too many callback requests for this number", rated.RetryAfter)
	}
	return nil
}

// duplicate is the 409 of a number that has an open callback.
func (s *Service) duplicate(other string) error {
	detail := "this number already has an open callback for this service"
	if s.agents.Open() {
		detail += ": " + other // with agents on, an anonymous caller learns no callback's id
	}
	p := httpx.Conflict(detail)
	p.Field = "phone_number"
	return p
}

// keyReused is the 422 of an Idempotency-Key sent again with another
// request: answering the first callback would hand its caller someone
// else's number and case data (issue 12).
func keyReused() error {
	return httpx.Unprocessable("Idempotency-Key", "this Idempotency-Key was used for another request; use a new key for a new request")
}

// sameRequest says whether a retried POST asks for what the first one did
// (its time of request aside).
func sameRequest(a, b *callbackv1.CallbackRequest) bool {
	return a.GetService() == b.GetService() && a.GetPhoneNumber() == b.GetPhoneNumber() &&
		a.GetSubject() == b.GetSubject() && a.GetContactName() == b.GetContactName() &&
		maps.Equal(a.GetCaseData(), b.GetCaseData()) && a.GetTimezone() == b.GetTimezone() &&
		a.GetPreferredAgent() == b.GetPreferredAgent() &&
		a.GetDesiredTime().AsTime().Equal(b.GetDesiredTime().AsTime()) && (a.GetDesiredTime() == nil) == (b.GetDesiredTime() == nil)
}

// keyAbandoned is the 409 of a retry whose first attempt claimed the
// number and died, and whose claim another request has since taken over.
func keyAbandoned() error {
	p := httpx.Conflict("the request with this Idempotency-Key was abandoned; send it again with a new key")
	p.Field = "Idempotency-Key"
	return p
}

// request writes the callback with the claim on its number that claim
// decides (planClaim), in the same append; a nil claim when no number is
// claimed. See admit.go for the order on a store that cannot append both
// at once.
func (s *Service) request(w http.ResponseWriter, r *http.Request, id string, cbr *callbackv1.CallbackRequest, now time.Time, ans answer,
	claim func(context.Context) (*eventstore.Part, error)) error {
	// From the claim on, the client hanging up stops nothing: an append
	// that landed but whose answer was lost is answered to the retry.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), writeTimeout)
	defer cancel()
	cause := eventstore.Cause{ID: "request:" + id, Correlation: id}
	cmd := callback.Request{ID: id, Request: cbr, At: now, Claimed: s.cfg.claiming()}
	var (
		out eventstore.Outcome[callback.State]
		err error
	)
	if claim == nil {
		out, err = s.execute(ctx, id, cause, cmd)
	} else {
		out, err = eventstore.ExecuteAlso(ctx, s.deps.Store, callback.Stream(id), aggregate, cause,
			func(st callback.State) ([]proto.Message, error) { return callback.Decide(st, cmd) },
			func() (*eventstore.Part, error) { return claim(ctx) })
		if refused := s.claimRefused(err); refused != nil {
			return refused // nothing written
		}
	}
	status := http.StatusCreated
	switch {
	case errors.Is(err, callback.ErrVoided):
		// Paused past the claim grace: another request took the number.
		s.deps.Log.Warn("request written too late: its claim was voided", "callback", id)
		if r.Header.Get("Idempotency-Key") != "" {
			return keyAbandoned()
		}
		p := httpx.Conflict("another request took this number while this one was being written; send it again")
		p.Field = "phone_number"
		return p
	case errors.Is(err, callback.ErrExists) || (err == nil && out.Replay):
		status = http.StatusOK // a retried POST with the same Idempotency-Key
		if s.cfg.claiming() && (out.State.Request.GetService() != cbr.GetService() ||
			out.State.Request.GetPhoneNumber() != cbr.GetPhoneNumber()) {
			// The key's callback is of another number: give this one back.
			if err := s.release(ctx, callback.State{ID: id, Exists: true, Request: cbr}, "idempotent retry of another number"); err != nil {
				return err
			}
		}
		if !sameRequest(out.State.Request, cbr) {
			return keyReused()
		}
	case err != nil:
		// A request with a key keeps its claim for the client's retry,
		// which resumes it; one without can never be retried, so it frees
		// the number now rather than after the claim grace.
		if s.cfg.claiming() && r.Header.Get("Idempotency-Key") == "" {
			if stream, serr := s.contactStream(ctx, cbr.GetPhoneNumber()); serr == nil {
				s.abandon(stream, id)
			}
		}
		return err
	default:
		s.requested.Inc()
	}
	consistency.Set(w, out.Position)
	ans(w, r, status == http.StatusCreated, out.State)
	return nil
}

// answerCreate answers a create, first or retried, with the visitor's
// self-service link: in full the first time (the caller just sent all of
// it), as show says on a retry, which had to send the very same request.
func (s *Service) answerCreate(w http.ResponseWriter, r *http.Request, status int, st callback.State) {
	link := s.linkFor(st)
	if status == http.StatusCreated {
		v := present(st)
		v.SelfService = link
		httpx.WriteJSON(w, status, v)
		return
	}
	switch v := s.show(r, st).(type) {
	case callbackView:
		v.SelfService = link
		httpx.WriteJSON(w, status, v)
	case visitorView:
		v.SelfService = link
		httpx.WriteJSON(w, status, v)
	}
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) error {
	if at, ok, err := timetravel.Parse(r, s.deps.Clock.Now()); err != nil || ok {
		if err != nil {
			return err
		}
		return s.getAt(w, r, at)
	}
	st, err := s.load(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, present(st))
	return nil
}

// getAt answers the callback as it was at (issue 14): its stream folded up
// to then, presented as the live answer is. Who may read it was settled by
// entitled on the callback as it is now, as for the live read; sealed
// fields open, or read [erased], through the store as they do live.
func (s *Service) getAt(w http.ResponseWriter, r *http.Request, at time.Time) error {
	id := r.PathValue("id")
	a, err := eventstore.LoadAt(r.Context(), s.deps.Store, callback.Stream(id), aggregate, at)
	if err != nil {
		return timetravel.Problem(err, "callback "+id)
	}
	if !a.State.Exists {
		return notFound(id)
	}
	timetravel.Set(w, a)
	httpx.WriteJSON(w, http.StatusOK, present(a.State))
	return nil
}

func (s *Service) cancel(w http.ResponseWriter, r *http.Request) error {
	// A visitor cancels a callback not yet being handled; once an agent
	// took it, only a supervisor ends it, with a reason (issue 16).
	cmd := callback.Cancel{At: s.deps.Clock.Now(), Reason: "cancelled by the visitor"}
	who := agentauth.Who(r.Context())
	if who.Has(agentauth.RoleClient) {
		cmd.Reason, cmd.By = "cancelled by the API client", who.ID
	}
	if who.Has(agentauth.RoleSupervisor) {
		reason := strings.TrimSpace(r.URL.Query().Get("reason"))
		if reason == "" {
			return httpx.BadField("reason", "is required for a supervisor to end a callback")
		}
		if err := httpx.CheckText("reason", reason, false); err != nil {
			return err
		}
		if len(reason) > callback.MaxSubject {
			return httpx.BadField("reason", "must be at most 200 bytes")
		}
		cmd = callback.Cancel{At: cmd.At, Reason: reason, By: who.ID, Supervisor: true}
	}
	out, err := s.cancelCallback(r.Context(), r.PathValue("id"), cmd)
	if err != nil {
		return err
	}
	consistency.Set(w, out.Position)
	httpx.WriteJSON(w, http.StatusOK, s.show(r, out.State))
	return nil
}

// idOf is the callback id of an Idempotency-Key: keyed with the server's
// secret when there is one, so the same key gives the same callback on
// every replica and nobody without the secret can compute it.
func (s *Service) idOf(key string) string {
	if len(s.cfg.IDKey) == 0 {
		return uuid.NewSHA1(idNamespace, []byte(key)).String()
	}
	mac := hmac.New(sha256.New, s.cfg.IDKey)
	mac.Write([]byte(key))
	return uuid.NewSHA1(idNamespace, mac.Sum(nil)).String()
}
