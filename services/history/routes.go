package history

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/consistency"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/libs/phone"
	"github.com/ringback/ringback/proto/catalog"
	"github.com/ringback/ringback/services/history/timeline"
)

// routeTable is every route of history and who may call it (issue 16): an
// interaction's trail, notes and case data are for the agents it was
// offered to or accepted by, a contact's history and matrices for the
// agents handling them; supervisors and API clients read them for their
// services; anyone else is answered as for an unknown interaction or
// number. Notes and case data are written by the handling agent only.
func (s *Service) routeTable() []agentauth.Route {
	const agent, read = agentauth.RoleAgent, agentauth.RoleAgent | agentauth.RoleSupervisor | agentauth.RoleClient
	return []agentauth.Route{
		{Pattern: "GET /v1/interactions/{id}/events", Roles: read, Entitle: s.entitledInteraction, Handle: s.events},
		{Pattern: "POST /v1/interactions/{id}/notes", Roles: agent, Entitle: s.entitledInteraction, Handle: s.addNote},
		{Pattern: "PUT /v1/interactions/{id}/case-data", Roles: agent, Entitle: s.entitledInteraction, Handle: s.editCaseData},
		{Pattern: "GET /v1/contacts/{phone_number}/history", Roles: read, Entitle: s.entitledContact, Handle: s.contactHistory},
		{Pattern: "GET /v1/contacts/{phone_number}/matrix", Roles: read, Entitle: s.entitledContact, Handle: s.matrix},
		// The contact's record (issue 15): read as the history, edited by
		// the agents handling the contact (record.go).
		{Pattern: "GET /v1/contacts/{phone_number}/record", Roles: read, Entitle: s.entitledContact, Handle: s.contactRecord},
		{Pattern: "PUT /v1/contacts/{phone_number}/record", Roles: agent, Entitle: s.entitledContact, Handle: s.editRecord},
		// Erasure (issue 16 point 9) is for whoever answers a privacy
		// request: a supervisor, of any service, since a contact is not
		// one service's, or an operator.
		{Pattern: "DELETE /v1/contacts/{phone_number}", Roles: agentauth.RoleSupervisor | agentauth.RoleOperator, Handle: s.erase},
	}
}

// Routes is the service's route table, for the binary's list of every
// route and its roles (GET /admin/routes) and the route × role test.
func (s *Service) Routes() []agentauth.Route { return s.routeTable() }

func (s *Service) routes(mux *http.ServeMux) {
	// A client's consistency token (issue 13) is honoured before anything.
	agentauth.Register(mux, s.deps.Log, s.agents, consistency.Routes(s.proj, consistency.DefaultWait, s.routeTable()))
}

// entitleWait is how long a read waits for the offer that entitles the
// agent: history learns of it from the bus, as the agent's desktop does
// through agent-session, and may be a little behind. An unknown id waits
// as long, so that "not yours" and "none" take the same time.
const entitleWait = 500 * time.Millisecond

// awaitEntitled waits up to entitleWait for ok, then answers refused.
func (s *Service) awaitEntitled(ctx context.Context, ok func(ctx context.Context, store bool) (bool, error), refused error) error {
	err := s.await(ctx, entitleWait, ok)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, context.DeadlineExceeded):
		return refused
	}
	return err
}

// handledBy says whether callback cb was offered to or accepted by p as an
// agent, or is of a service p supervises or is a client of.
func (s *Service) handledBy(ctx context.Context, cb string, p agentauth.Principal) (bool, error) {
	st, ok, err := s.state(ctx, cb)
	return ok && ((p.Has(agentauth.RoleAgent) && st.HandledBy(p.ID)) || p.Covers(st.Service)), err
}

// entitledInteraction: an agent an interaction of the callback was offered
// to or accepted by, or a supervisor or client of its service.
func (s *Service) entitledInteraction(r *http.Request, p agentauth.Principal) error {
	iid := r.PathValue("id")
	return s.awaitEntitled(r.Context(), func(ctx context.Context, store bool) (bool, error) {
		cb, ok := s.view.callbackOf(iid)
		if !ok && store {
			var err error
			if cb, ok, err = s.lookupCallback(ctx, iid); err != nil {
				return false, err
			}
		}
		if !ok {
			return false, nil
		}
		return s.handledBy(ctx, cb, p)
	}, httpx.NotFound("no interaction "+iid))
}

// entitledContact: an agent one of the number's interactions was offered to
// or accepted by, or a supervisor or client of one of its callbacks'
// services; anyone else, and an unknown number, get the same 404 after the
// same wait, so a number's being a customer cannot be probed. A malformed number is still a 400 naming the field.
func (s *Service) entitledContact(r *http.Request, who agentauth.Principal) error {
	p, err := contactNumber(r)
	if err != nil {
		return err
	}
	return s.awaitEntitled(r.Context(), func(ctx context.Context, store bool) (bool, error) {
		ids := s.view.contactOf(p)
		if store {
			var err error
			if ids, err = s.callbacksOf(ctx, p); err != nil {
				return false, err
			}
		}
		for _, cb := range ids {
			if ok, err := s.handledBy(ctx, cb, who); ok || err != nil {
				return ok, err
			}
		}
		return false, nil
	}, httpx.NotFound("no contact history for this number"))
}

// visible is what the request's principal may see of a contact's
// callbacks: all of them for the agent handling one of them (the desktop's
// history of the contact), only those of their services for a supervisor
// or API client, who are entitled to no more (issue 16); all on an open
// platform.
func visible(ctx context.Context, cs []summary) []summary {
	who := agentauth.Who(ctx)
	if who.Roles == 0 {
		return cs
	}
	for _, c := range cs {
		if who.Has(agentauth.RoleAgent) && c.HandledBy(who.ID) {
			return cs
		}
	}
	out := cs[:0:0]
	for _, c := range cs {
		if who.Covers(c.Service) {
			out = append(out, c)
		}
	}
	return out
}

// InteractionType is the media type of every interaction history sees; the
// matrices count interactions by type, as the agent desktop shows them.
const InteractionType = "web-callback"

// contactNumber reads the contact's number from the path; ServeMux has
// already unescaped %2B into "+".
func contactNumber(r *http.Request) (string, error) {
	p := r.PathValue("phone_number")
	if !phone.IsContactNumber(p) {
		return "", httpx.BadField("phone_number", "must be an E.164 number such as +14155550123 (escape + as %2B)")
	}
	return p, nil
}

// callbackOf finds the callback of an interaction named in the path.
func (s *Service) callbackOf(r *http.Request) (interactionID, callbackID string, err error) {
	iid := r.PathValue("id")
	cb, ok, err := s.lookupCallback(r.Context(), iid)
	if err != nil {
		return iid, "", err
	}
	if !ok {
		return iid, "", httpx.NotFound("no interaction " + iid)
	}
	return iid, cb, nil
}

// entryView is one line of the audit trail.
type entryView struct {
	ID     string          `json:"id"`
	Type   string          `json:"type"`
	Source string          `json:"source"`
	Time   time.Time       `json:"time"`
	Data   json.RawMessage `json:"data"`
}

// eventJSON renders events in the API's snake_case field names.
var eventJSON = protojson.MarshalOptions{UseProtoNames: true}

func (s *Service) events(w http.ResponseWriter, r *http.Request) error {
	_, cb, err := s.callbackOf(r)
	if err != nil {
		return err
	}
	stream := timeline.Stream(cb)
	recs, err := s.deps.Store.ReadStream(r.Context(), stream, 0)
	if err != nil {
		return err
	}
	in := make([]timeline.Recorded, 0, len(recs))
	for _, rec := range recs {
		m, err := eventstore.Decode(rec)
		if err != nil {
			continue // a newer writer's event type
		}
		in = append(in, timeline.Recorded{ID: rec.ID, Stream: rec.Stream, Event: m})
	}
	trail := timeline.Trail(in)
	out := make([]entryView, len(trail))
	for i, e := range trail {
		out[i] = entryView{ID: e.ID, Type: catalog.Short(e.Type), Source: e.Source, Time: e.Time, Data: json.RawMessage("null")}
		if e.Event != nil {
			b, err := eventJSON.Marshal(e.Event)
			if err != nil {
				return err
			}
			out[i].Data = b
		}
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

type noteRequest struct {
	AgentID string `json:"agent_id"`
	Text    string `json:"text" text:"multiline"` // notes are multi-line: tab and line feed allowed (httpx.CheckStrings)
}

type noteView struct {
	InteractionID string    `json:"interaction_id"`
	AgentID       string    `json:"agent_id"`
	Text          string    `json:"text"`
	At            time.Time `json:"at"`
}

// noteNamespace derives a note's cause from an Idempotency-Key, so a retried
// POST adds the note once.
var noteNamespace = uuid.MustParse("b1c0c7e2-3f0a-4d49-9a43-6f3e2f7d9a51")

func (s *Service) addNote(w http.ResponseWriter, r *http.Request) error {
	who, err := s.agents.Who(w, r)
	if err != nil {
		return err
	}
	var req noteRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.AgentID == "" {
		req.AgentID = who
	}
	var fe *timeline.FieldError
	if err := timeline.ValidateNote(req.AgentID, req.Text); errors.As(err, &fe) {
		return httpx.BadField(fe.Field, fe.Reason)
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 {
		return httpx.BadField("Idempotency-Key", "must be at most 255 characters")
	}
	iid, cb, err := s.callbackOf(r)
	if err != nil {
		return err
	}
	if err := s.mayWrite(r.Context(), who, req.AgentID, cb); err != nil {
		return err
	}
	cause := uuid.NewString()
	if key != "" {
		cause = uuid.NewSHA1(noteNamespace, []byte(iid+"\x00"+key)).String()
	}
	now := s.deps.Clock.Now()
	out, err := s.execute(r.Context(), cb, eventstore.Cause{ID: cause, Correlation: cb},
		timeline.AddNote{InteractionID: iid, AgentID: req.AgentID, Text: req.Text, At: now})
	switch {
	case errors.Is(err, timeline.ErrNotFound):
		return httpx.NotFound("no interaction " + iid)
	case err != nil:
		return err
	}
	status := http.StatusOK // a retried POST with the same Idempotency-Key
	if !out.Replay {
		status = http.StatusCreated
		s.notes.Inc()
		// The contact history read next must show the note.
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := s.proj.WaitFor(ctx, out.Position); err != nil {
			return err
		}
	}
	// The note is the latest of its author with this text (a replay may
	// find later notes after it).
	var n timeline.Note
	for i := len(out.State.Notes) - 1; i >= 0; i-- {
		if c := out.State.Notes[i]; c.AgentID == req.AgentID && c.Text == req.Text {
			n = c
			break
		}
	}
	consistency.Set(w, out.Position)
	httpx.WriteJSON(w, status, noteView{InteractionID: n.InteractionID, AgentID: n.AgentID, Text: n.Text, At: n.At})
	return nil
}

// contactRow is one of a contact's interactions in its history.
type contactRow struct {
	CallbackID    string     `json:"callback_id"`
	InteractionID string     `json:"interaction_id"`
	Service       string     `json:"service"`
	Subject       string     `json:"subject"`
	State         string     `json:"state"`
	Disposition   string     `json:"disposition"`
	Notes         []noteView `json:"notes"`
	RequestedAt   *time.Time `json:"requested_at"`
	CompletedAt   *time.Time `json:"completed_at"` // when it reached COMPLETED or CANCELLED
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (s *Service) contactHistory(w http.ResponseWriter, r *http.Request) error {
	p, err := contactNumber(r)
	if err != nil {
		return err
	}
	cs, err := s.contact(r.Context(), p)
	if err != nil {
		return err
	}
	cs = visible(r.Context(), cs)
	rows := []contactRow{}
	for _, c := range cs {
		rows = append(rows, contactRowOf(c))
	}
	httpx.WriteJSON(w, http.StatusOK, rows)
	return nil
}

func contactRowOf(c summary) contactRow {
	row := contactRow{CallbackID: c.CallbackID, InteractionID: c.InteractionID, Service: c.Service,
		Subject: c.Subject, State: c.Status.String(), Disposition: c.Disposition, Notes: []noteView{},
		RequestedAt: timePtr(c.RequestedAt), CompletedAt: timePtr(c.EndedAt)}
	for _, n := range c.Notes {
		row.Notes = append(row.Notes, noteView{InteractionID: n.InteractionID, AgentID: n.AgentID, Text: n.Text, At: n.At})
	}
	return row
}

// matrixCell is a count of interactions and their types.
type matrixCell struct {
	Count int            `json:"count"`
	Types map[string]int `json:"types"`
	Days  int            `json:"days,omitempty"`
}

type matrixView struct {
	InProgress matrixCell `json:"in_progress"`
	Recent     matrixCell `json:"recent"`
}

// matrix counts the contact's other interactions: those in progress, and
// those active in the last N days. "Other" leaves out ?exclude=<interaction
// or callback id>, the one the agent is handling.
func (s *Service) matrix(w http.ResponseWriter, r *http.Request) error {
	p, err := contactNumber(r)
	if err != nil {
		return err
	}
	days := s.cfg.RecentDays
	if d := r.URL.Query().Get("days"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 || n > MaxRecentDays {
			return httpx.BadField("days", "must be a whole number of days from 1 to "+strconv.Itoa(MaxRecentDays))
		}
		days = n
	}
	exclude := r.URL.Query().Get("exclude")
	since := s.deps.Clock.Now().Add(-time.Duration(days) * 24 * time.Hour)
	m := matrixView{InProgress: matrixCell{Types: map[string]int{}}, Recent: matrixCell{Types: map[string]int{}, Days: days}}
	cs, err := s.contact(r.Context(), p)
	if err != nil {
		return err
	}
	for _, c := range visible(r.Context(), cs) {
		if exclude != "" && (c.CallbackID == exclude || slices.Contains(c.Interactions, exclude)) {
			continue
		}
		if c.Status.Live() {
			m.InProgress.Count++
			m.InProgress.Types[InteractionType]++
		}
		if !c.LastAt.Before(since) {
			m.Recent.Count++
			m.Recent.Types[InteractionType]++
		}
	}
	httpx.WriteJSON(w, http.StatusOK, m)
	return nil
}

type caseDataRequest struct {
	AgentID  string            `json:"agent_id"`
	CaseData map[string]string `json:"case_data"`
}

// editCaseData records the agent's edit of the Case Information.
func (s *Service) editCaseData(w http.ResponseWriter, r *http.Request) error {
	who, err := s.agents.Who(w, r)
	if err != nil {
		return err
	}
	var req caseDataRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.AgentID == "" {
		req.AgentID = who
	}
	var fe *timeline.FieldError
	if err := timeline.ValidateCaseData(req.AgentID, req.CaseData); errors.As(err, &fe) {
		return httpx.BadField(fe.Field, fe.Reason)
	}
	iid, cb, err := s.callbackOf(r)
	if err != nil {
		return err
	}
	if err := s.mayWrite(r.Context(), who, req.AgentID, cb); err != nil {
		return err
	}
	if req.CaseData == nil {
		req.CaseData = map[string]string{}
	}
	out, err := s.execute(r.Context(), cb, eventstore.Cause{ID: uuid.NewString(), Correlation: cb},
		timeline.EditCaseData{InteractionID: iid, AgentID: req.AgentID, CaseData: req.CaseData, At: s.deps.Clock.Now()})
	switch {
	case errors.Is(err, timeline.ErrNotFound):
		return httpx.NotFound("no interaction " + iid)
	case err != nil:
		return err
	}
	consistency.Set(w, out.Position)
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"interaction_id": iid, "case_data": out.State.CaseData})
	return nil
}

// mayWrite: with agents authenticated, only the agent who accepted the
// interaction writes its notes and case data, as themselves.
func (s *Service) mayWrite(ctx context.Context, who, agentID, callbackID string) error {
	if who == "" {
		return nil
	}
	if agentID != who {
		return httpx.Forbidden("an agent writes only as themselves")
	}
	l, err := eventstore.Load(ctx, s.deps.Store, timeline.Stream(callbackID), aggregate)
	if err != nil {
		return err
	}
	if l.State.Agent != who {
		return httpx.Forbidden("the interaction is not accepted by this agent")
	}
	return nil
}
