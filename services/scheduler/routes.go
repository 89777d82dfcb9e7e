package scheduler

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/services/scheduler/schedule"
)

// routeTable is every route of scheduler and who may call it (issue 16):
// a callback's schedule is for the agent who accepted it and for the
// supervisors and API clients of its service; anyone else is answered as
// for an unknown callback.
func (s *Service) routeTable() []agentauth.Route {
	return []agentauth.Route{
		{Pattern: "GET /v1/schedule/{id}", Roles: agentauth.RoleAgent | agentauth.RoleSupervisor | agentauth.RoleClient,
			Entitle: s.entitled, Handle: s.get},
		// Anyone, visitors included: counts of free places, never who
		// booked them (issue 11).
		{Pattern: "GET /v1/services/{service}/availability", Roles: agentauth.Everyone, Handle: s.availability},
		// The same, for sites built for Genesys GMS (gms.go).
		{Pattern: "GET /genesys/1/service/callback/{service}/availability", Roles: agentauth.Everyone, Handle: s.gmsAvailability(1)},
		{Pattern: "GET /genesys/2/service/callback/{service}/availability", Roles: agentauth.Everyone, Handle: s.gmsAvailability(2)},
	}
}

// Routes is the service's route table, for the binary's list of every
// route and its roles (GET /admin/routes) and the route × role test.
func (s *Service) Routes() []agentauth.Route { return s.routeTable() }

func (s *Service) routes(mux *http.ServeMux) {
	agentauth.Register(mux, s.deps.Log, s.agents, s.routeTable())
}

func notFound(id string) error { return httpx.NotFound("no schedule for callback " + id) }

func (s *Service) load(ctx context.Context, id string) (schedule.State, error) {
	if _, err := uuid.Parse(id); err != nil {
		return schedule.State{}, notFound(id)
	}
	l, err := eventstore.Load(ctx, s.deps.Store, schedule.Stream(id), aggregate)
	if err != nil {
		return schedule.State{}, err
	}
	if l.State.Status == schedule.Unknown {
		return schedule.State{}, notFound(id)
	}
	return l.State, nil
}

// entitled: the agent who accepted the callback's interaction.
func (s *Service) entitled(r *http.Request, p agentauth.Principal) error {
	id := r.PathValue("id")
	st, err := s.load(r.Context(), id)
	if err != nil {
		return err
	}
	if !p.IsAgent(st.Agent) && !p.Covers(st.Request.GetService()) {
		return notFound(id)
	}
	return nil
}

// scheduleView is a callback's schedule as the API shows it, for operators.
type scheduleView struct {
	CallbackID    string     `json:"callback_id"`
	Status        string     `json:"status"`
	Service       string     `json:"service,omitempty"`
	DueAt         *time.Time `json:"due_at,omitempty"`
	InteractionID string     `json:"interaction_id,omitempty"` // of the last firing
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	st, err := s.load(r.Context(), id)
	if err != nil {
		return err
	}
	v := scheduleView{CallbackID: id, Status: st.Status.String(), Service: st.Request.GetService()}
	if !st.DueAt.IsZero() {
		v.DueAt = &st.DueAt
	}
	if st.Fired > 0 {
		v.InteractionID = schedule.InteractionID(id, st.Fired-1)
	}
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}
