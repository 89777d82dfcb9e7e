package agentsession

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/consistency"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/httpx"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	"github.com/ringback/ringback/services/agent-session/agent"
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
	startEventStream(w)
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

// forceNotReady is a supervisor setting an agent Not Ready on web
// callback (no more offers), with a reason the agent sees and a why kept
// in the agent's events beside who did it. An agent on a call keeps it:
// the Not Ready waits for its end (the view's pending), and is set where
// they would have become Ready again, after After Call Work.
func (s *Service) forceNotReady(w http.ResponseWriter, r *http.Request) error {
	id, err := s.supervised(r)
	if err != nil {
		return err
	}
	var body struct {
		Reason string `json:"reason"`
		Why    string `json:"why"`
	}
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if err := checkWhy(body.Why); err != nil {
		return err
	}
	if len(body.Reason) > 100 {
		return httpx.BadField("reason", "must be at most 100 bytes")
	}
	p := agentauth.Who(r.Context())
	out, err := s.onAgent(r.Context(), id, eventstore.Cause{ID: uuid.NewString()}, agent.SetState{Agent: id,
		Channel: agent.WebCallback, State: agent.NotReady, Cause: agentv1.StateCause_STATE_CAUSE_SUPERVISOR, Reason: body.Reason,
		By: p.ID, Why: body.Why, At: s.deps.Clock.Now()})
	if err != nil {
		return problem(err)
	}
	consistency.Set(w, out.Position)
	httpx.WriteJSON(w, http.StatusOK, s.presentAgent(id, out.State))
	return nil
}

// forceLogout is a supervisor ending an agent's session, recorded with
// who and why; an agent on a call is refused (409).
func (s *Service) forceLogout(w http.ResponseWriter, r *http.Request) error {
	id, err := s.supervised(r)
	if err != nil {
		return err
	}
	var body struct {
		Why string `json:"why"`
	}
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if err := checkWhy(body.Why); err != nil {
		return err
	}
	p := agentauth.Who(r.Context())
	out, err := s.onAgent(r.Context(), id, eventstore.Cause{ID: uuid.NewString()},
		agent.Logout{Agent: id, By: p.ID, Why: body.Why, At: s.deps.Clock.Now()})
	if err != nil {
		return problem(err)
	}
	consistency.Set(w, out.Position)
	httpx.WriteJSON(w, http.StatusOK, s.presentAgent(id, out.State))
	return nil
}

// supervised is the agent in the path, if the supervisor may act on them:
// one the board knows, with a skill of one of the supervisor's services
// (or no skill: an agent of every service). For anyone else the agent does
// not exist (404), as for an unknown one.
func (s *Service) supervised(r *http.Request) (string, error) {
	id, err := pathAgent(r)
	if err != nil {
		return "", err
	}
	if rows := s.super.agents(agentauth.Who(r.Context()), []string{id}); len(rows) == 0 {
		return "", httpx.NotFound("no agent " + id)
	}
	return id, nil
}

func checkWhy(why string) error {
	switch {
	case strings.TrimSpace(why) == "":
		return httpx.BadField("why", "say why: it is kept with who did it")
	case len(why) > 200:
		return httpx.BadField("why", "must be at most 200 bytes")
	}
	return nil
}
