package router

import (
	"net/http"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/services/router/queue"
)

// routeTable is every route of the router and who may call it (issue 16):
// the queues show counts, nothing personal, to any agent (a supervisor role
// will narrow them to its services).
func (s *Service) routeTable() []agentauth.Route {
	return []agentauth.Route{
		{Pattern: "GET /v1/queues", Access: agentauth.AnyAgent, Handle: s.listQueues},
		{Pattern: "GET /v1/queues/{service}", Access: agentauth.AnyAgent, Handle: s.getQueue},
	}
}

func (s *Service) routes(mux *http.ServeMux) {
	agentauth.Register(mux, s.deps.Log, s.agents, s.routeTable())
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
