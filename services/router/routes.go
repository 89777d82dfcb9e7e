package router

import (
	"net/http"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/consistency"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/services/router/queue"
)

// routeTable is every route of the router and who may call it (issue 16):
// the queues show counts, nothing personal: to any agent and operator, and
// to supervisors and API clients for their services only.
func (s *Service) routeTable() []agentauth.Route {
	const roles = agentauth.RoleAgent | agentauth.RoleSupervisor | agentauth.RoleClient | agentauth.RoleOperator
	return []agentauth.Route{
		{Pattern: "GET /v1/queues", Roles: roles, Handle: s.listQueues},
		{Pattern: "GET /v1/queues/{service}", Roles: roles, Entitle: entitled, Handle: s.getQueue},
	}
}

// entitled: agents and operators see every queue's counts; a supervisor or
// client scoped to services sees theirs, and another's answers as a
// malformed name does not: 404, so the site's services cannot be listed.
func entitled(r *http.Request, p agentauth.Principal) error {
	svc := r.PathValue("service")
	if p.Has(agentauth.RoleAgent|agentauth.RoleOperator) || p.Covers(svc) || !serviceName.MatchString(svc) {
		return nil
	}
	return httpx.NotFound("no queue " + svc)
}

// visible says whether the request's principal sees service svc's queue.
func visible(r *http.Request, svc string) bool {
	p := agentauth.Who(r.Context())
	return p.Roles == 0 || p.Has(agentauth.RoleAgent|agentauth.RoleOperator) || p.Covers(svc)
}

// Routes is the service's route table, for the binary's list of every
// route and its roles (GET /admin/routes) and the route × role test.
func (s *Service) Routes() []agentauth.Route { return s.routeTable() }

func (s *Service) routes(mux *http.ServeMux) {
	// A client's consistency token (issue 13) is honoured before anything.
	agentauth.Register(mux, s.deps.Log, s.agents, consistency.Routes(s.proj, consistency.DefaultWait, s.routeTable()))
}

// queueView is a queue as the API shows it.
type queueView struct {
	Service           string  `json:"service"`
	Waiting           int     `json:"waiting"`
	OldestWaitSeconds float64 `json:"oldest_wait_seconds"`
	Offered           int     `json:"offered"`
	AgentsReady       int     `json:"agents_ready"`
	AgentsAvailable   int     `json:"agents_available"`
}

func present(st queue.Stats) queueView {
	return queueView{Service: st.Service, Waiting: st.Waiting, OldestWaitSeconds: st.OldestWait.Seconds(),
		Offered: st.Offered, AgentsReady: st.AgentsReady, AgentsAvailable: st.AgentsAvailable}
}

func (s *Service) listQueues(w http.ResponseWriter, r *http.Request) error {
	now := s.deps.Clock.Now()
	s.mu.Lock()
	out := []queueView{}
	for _, svc := range s.model.Services() {
		if !visible(r, svc) {
			continue
		}
		out = append(out, present(s.model.Stats(svc, now)))
	}
	s.mu.Unlock()
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"queues": out})
	return nil
}

// getQueue answers for any well-formed service: a queue nobody has been
// queued in yet is empty, not missing, and its ready agents still count.
func (s *Service) getQueue(w http.ResponseWriter, r *http.Request) error {
	svc := r.PathValue("service")
	if !serviceName.MatchString(svc) {
		return httpx.BadField("service", "must be lower-case letters, digits and dashes, at most 63")
	}
	now := s.deps.Clock.Now()
	s.mu.Lock()
	st := s.model.Stats(svc, now)
	s.mu.Unlock()
	httpx.WriteJSON(w, http.StatusOK, present(st))
	return nil
}
