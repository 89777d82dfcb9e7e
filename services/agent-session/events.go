package agentsession

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/httpx"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// keepAlive stops proxies from closing an idle event stream.
const keepAlive = 15 * time.Second

// events is the agent's Server-Sent Events stream. Every event's id is its
// position in agent-session's store, so a desktop reconnecting with
// Last-Event-ID resumes exactly after what it saw. Without it, the stream
// opens with the agent's current state and open interactions.
//
// Event names: "state" (agent view), "offer" (an interaction offered: the
// preview), "interaction" (any change of an interaction the agent holds).
func (s *Service) events(w http.ResponseWriter, r *http.Request) error {
	id, err := s.self(w, r)
	if err != nil {
		return err
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		return errors.New("response writer cannot flush")
	}
	from, resume, err := lastEventID(r.Header.Get("Last-Event-ID"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s.sse.Inc()
	defer s.sse.Dec()

	// mu serialises writes to the response between the subscription and
	// the keep-alive ticker.
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if !resume {
		from = s.proj.Position()
		a, _ := s.view.agent(id)
		if err := send(w, from, "state", s.presentAgent(id, a)); err != nil {
			return nil
		}
		for _, it := range s.view.openOf(id) {
			name := "interaction"
			if it.Phase == interaction.Offered {
				name = "offer" // a preview still waiting for the agent
			}
			if err := send(w, from, name, presentInteraction(it)); err != nil {
				return nil
			}
		}
		flusher.Flush()
	}
	// The handler must not return while the keep-alive goroutine may still
	// write: the response is finished when it returns.
	var pinger sync.WaitGroup
	defer pinger.Wait()
	defer cancel()
	pinger.Add(1)
	go func() { // keep-alives; the subscription below owns writes otherwise
		defer pinger.Done()
		t := time.NewTicker(keepAlive)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				ping(&mu, w, flusher)
			}
		}
	}()
	err = s.deps.Store.SubscribeAll(ctx, from, func(ctx context.Context, rec eventstore.RecordedEvent) error {
		name, payload, ok := s.forAgent(ctx, id, rec)
		if !ok {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if err := send(w, rec.Position, name, payload); err != nil {
			return err
		}
		flusher.Flush()
		return nil
	})
	if err != nil && ctx.Err() == nil {
		s.deps.Log.Debug("agent event stream ended", "agent", id, "err", err)
	}
	return nil
}

func ping(mu *sync.Mutex, w http.ResponseWriter, f http.Flusher) {
	mu.Lock()
	defer mu.Unlock()
	_, _ = fmt.Fprint(w, ": keep-alive\n\n")
	f.Flush()
}

// forAgent says whether a stored event concerns the agent and renders it.
func (s *Service) forAgent(ctx context.Context, id string, rec eventstore.RecordedEvent) (string, any, bool) {
	if rec.Stream == "agent-"+id {
		if err := s.proj.WaitFor(ctx, rec.Position); err != nil {
			return "", nil, false
		}
		a, _ := s.view.agent(id)
		return "state", s.presentAgent(id, a), true
	}
	if !strings.HasPrefix(rec.Stream, "agent-interaction-") {
		return "", nil, false
	}
	// The interaction as it was at this event, folded from its stream: a
	// replay shows each step as it was, and an offer withdrawn from this
	// agent is still theirs at the event that withdrew it.
	st, err := s.interactionAt(ctx, rec)
	if err != nil || st.Agent != id {
		return "", nil, false
	}
	if m, err := eventstore.Decode(rec); err == nil {
		if _, offered := m.(*agentv1.InteractionPresented); offered {
			return "offer", presentInteraction(st), true
		}
	}
	return "interaction", presentInteraction(st), true
}

func send(w http.ResponseWriter, pos eventstore.Position, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d.%d\nevent: %s\ndata: %s\n\n", pos.Commit, pos.Prepare, name, b)
	return err
}

func lastEventID(h string) (eventstore.Position, bool, error) {
	if h == "" {
		return eventstore.Position{}, false, nil
	}
	c, p, ok := strings.Cut(h, ".")
	commit, err1 := strconv.ParseUint(c, 10, 64)
	prepare, err2 := strconv.ParseUint(p, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return eventstore.Position{}, false, httpx.BadField("Last-Event-ID", "must be an event id this stream sent")
	}
	return eventstore.Position{Commit: commit, Prepare: prepare}, true, nil
}

// interactionAt folds an interaction's stream up to and including rec.
func (s *Service) interactionAt(ctx context.Context, rec eventstore.RecordedEvent) (interaction.State, error) {
	recs, err := s.deps.Store.ReadStream(ctx, rec.Stream, 0)
	if err != nil {
		return interaction.State{}, err
	}
	st := interactions.Initial
	for _, r := range recs {
		if r.Revision > rec.Revision {
			break
		}
		if m, err := eventstore.Decode(r); err == nil {
			st = interactions.Evolve(st, m)
		}
	}
	return st, nil
}
