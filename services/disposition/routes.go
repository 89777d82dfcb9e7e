package disposition

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/consistency"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/services/disposition/code"
)

// routeTable is every route of disposition and who may call it (issue 16):
// the catalogue for agents, supervisors and clients (codes are no personal
// data), an interaction's disposition for the agent who accepted it; anyone
// else is answered as for an unknown interaction.
func (s *Service) routeTable() []agentauth.Route {
	return []agentauth.Route{
		{Pattern: "GET /v1/dispositions", Roles: agentauth.RoleAgent | agentauth.RoleSupervisor | agentauth.RoleClient, Handle: s.catalogue},
		{Pattern: "PUT /v1/interactions/{id}/disposition", Roles: agentauth.RoleAgent, Entitle: s.entitled, Handle: s.put},
	}
}

// Routes is the service's route table, for the binary's list of every
// route and its roles (GET /admin/routes) and the route × role test.
func (s *Service) Routes() []agentauth.Route { return s.routeTable() }

func (s *Service) routes(mux *http.ServeMux) {
	// A client's consistency token (issue 13) is honoured before anything.
	agentauth.Register(mux, s.deps.Log, s.agents, consistency.Routes(s.proj, consistency.DefaultWait, s.routeTable()))
}

func notAccepted(iid string) error {
	return httpx.NotFound("interaction " + iid + " has not been accepted by an agent")
}

// entitled: the agent who accepted the interaction.
func (s *Service) entitled(r *http.Request, p agentauth.Principal) error {
	iid := r.PathValue("id")
	if iid == "" || len(iid) > maxID {
		return httpx.NotFound("no interaction " + iid)
	}
	st, err := s.awaitAccept(r.Context(), iid)
	if err != nil {
		return err
	}
	if !st.Opened || !p.IsAgent(st.AgentID) {
		return notAccepted(iid)
	}
	return nil
}

type catalogueView struct {
	Codes    []code.Code `json:"codes"`
	Required bool        `json:"required"`
}

func (s *Service) catalogue(w http.ResponseWriter, _ *http.Request) error {
	httpx.WriteJSON(w, http.StatusOK, catalogueView{Codes: s.cfg.catalogue.Codes(), Required: s.cfg.Required})
	return nil
}

type putRequest struct {
	Code    string `json:"code"`
	AgentID string `json:"agent_id"` // optional: defaults to the agent who accepted
}

type dispositionView struct {
	InteractionID string `json:"interaction_id"`
	Code          string `json:"code"`
}

// acceptWait is how long a PUT waits for the accept it follows to be folded:
// the agent's desktop learns of the accept from the bus as we do, and may
// be a little ahead of us.
const acceptWait = 3 * time.Second

// maxID bounds an interaction id in the path; ours are UUIDs.
const maxID = 128

func (s *Service) put(w http.ResponseWriter, r *http.Request) error {
	who, err := s.agents.Who(w, r)
	if err != nil {
		return err
	}
	var req putRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	switch {
	case req.Code == "":
		return httpx.BadField("code", "is required")
	case !s.cfg.catalogue.Has(req.Code):
		return httpx.BadField("code", "is not a disposition code: see GET /v1/dispositions")
	case len(req.AgentID) > maxID:
		return httpx.BadField("agent_id", "must be at most 128 bytes")
	}
	iid := r.PathValue("id")
	if iid == "" || len(iid) > maxID {
		return httpx.NotFound("no interaction " + iid)
	}
	st, err := s.awaitAccept(r.Context(), iid)
	if err != nil {
		return err
	}
	if who != "" {
		if (req.AgentID != "" && req.AgentID != who) || st.AgentID != who {
			return httpx.Forbidden("interaction " + iid + " is not accepted by this agent")
		}
		req.AgentID = who
	}
	// A PUT is idempotent by itself (the same code again is no change), so
	// each gets a fresh cause; the correlation ties it to the callback.
	out, err := s.execute(r.Context(), iid, eventstore.Cause{ID: uuid.NewString(), Correlation: st.CallbackID},
		code.Set{Code: req.Code, AgentID: req.AgentID, At: s.deps.Clock.Now(), Catalogue: s.cfg.catalogue})
	switch {
	case errors.Is(err, code.ErrNotFound):
		return notAccepted(iid)
	case errors.Is(err, code.ErrClosed):
		return httpx.Conflict("interaction " + iid + " is done: its disposition can no longer change")
	case errors.Is(err, code.ErrUnknownCode):
		return httpx.BadField("code", "is not a disposition code")
	case err != nil:
		return err
	}
	if len(out.Events) > 0 {
		s.set.WithLabelValues(req.Code).Inc()
	}
	consistency.Set(w, out.Position)
	httpx.WriteJSON(w, http.StatusOK, dispositionView{InteractionID: iid, Code: out.State.Code})
	return nil
}

// awaitAccept loads the interaction's disposition, waiting up to acceptWait
// for its stream to exist; an interaction still unknown then is a 404.
func (s *Service) awaitAccept(ctx context.Context, iid string) (code.State, error) {
	stream := code.Stream(iid)
	l, err := eventstore.Load(ctx, s.deps.Store, stream, aggregate)
	if err != nil || l.State.Opened || l.State.Closed {
		return l.State, err
	}
	wctx, cancel := context.WithTimeout(ctx, acceptWait)
	defer cancel()
	err = s.proj.WaitUntil(wctx, func() bool { return s.view.known(iid) })
	if errors.Is(err, context.DeadlineExceeded) {
		return code.State{}, notAccepted(iid)
	}
	if err != nil {
		return code.State{}, err
	}
	l, err = eventstore.Load(ctx, s.deps.Store, stream, aggregate)
	return l.State, err
}
