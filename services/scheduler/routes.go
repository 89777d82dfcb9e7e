package scheduler

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/services/scheduler/schedule"
)

func (s *Service) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/schedule/{id}", httpx.Handle(s.deps.Log, s.get))
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
	if _, err := uuid.Parse(id); err != nil {
		return httpx.NotFound("no schedule for callback " + id)
	}
	l, err := eventstore.Load(r.Context(), s.deps.Store, schedule.Stream(id), aggregate)
	if err != nil {
		return err
	}
	st := l.State
	if st.Status == schedule.Unknown {
		return httpx.NotFound("no schedule for callback " + id)
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
