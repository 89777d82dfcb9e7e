package agentsession

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/services/agent-session/supervisor"
)

// superView is what GET /v1/supervisor/summary answers: the counts and
// every agent the supervisor may see.
type superView struct {
	supervisor.Summary
	AgentRows []supervisor.AgentRow `json:"agent_rows"`
}

func (s *Service) supervisorSummary(w http.ResponseWriter, r *http.Request) error {
	p := agentauth.Who(r.Context())
	httpx.WriteJSON(w, http.StatusOK, superView{Summary: s.super.summary(p), AgentRows: s.super.agents(p, nil)})
	return nil
}

// supervisorEvents is the supervisor page's live feed (Server-Sent
// Events): "summary" (the counts) and "agents" (agent rows), first all of
// them, then at most every superFeedEvery the summary and the agents that
// changed. A stream that missed a publish (it was slow to write) gets every
// agent again. There are no event ids: a page that reconnects gets the
// whole board first, which is all it shows.
func (s *Service) supervisorEvents(w http.ResponseWriter, r *http.Request) error {
	p := agentauth.Who(r.Context())
	flusher, ok := w.(http.Flusher)
	if !ok {
		return errors.New("response writer cannot flush")
	}
	release, err := s.streams.acquire(s.cfg, "supervisor:"+p.ID, r)
	if err != nil {
		return err
	}
	defer release()
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s.superStreams.Inc()
	defer s.superStreams.Dec()
	ctx := r.Context()

	ver, _, next := s.super.current()
	if sendPlain(w, "agents", s.super.agents(p, nil)) != nil || sendPlain(w, "summary", s.super.summary(p)) != nil {
		return nil
	}
	flusher.Flush()
	ping := time.NewTicker(keepAlive)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.hub.done:
			return nil
		case <-ping.C:
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			flusher.Flush()
		case <-next:
			v, ids, n := s.super.current()
			if v != ver+1 {
				ids = nil // missed one: every agent
			}
			ver, next = v, n
			if rows := s.super.agents(p, ids); len(rows) > 0 {
				if sendPlain(w, "agents", rows) != nil {
					return nil
				}
			}
			if sendPlain(w, "summary", s.super.summary(p)) != nil {
				return nil
			}
			flusher.Flush()
		}
	}
}

func sendPlain(w io.Writer, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
	return err
}
