package router

import (
	"net/http"

	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/services/router/queue"
)

func (s *Service) routes(mux *http.ServeMux) {
	log := s.deps.Log
	mux.HandleFunc("GET /v1/queues", httpx.Handle(log, s.listQueues))
	mux.HandleFunc("GET /v1/queues/{service}", httpx.Handle(log, s.getQueue))
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
