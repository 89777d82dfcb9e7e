package agentsession

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/libs/streams"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/agent-session/agent"
	"github.com/ringback/ringback/services/agent-session/interaction"
	"github.com/ringback/ringback/services/agent-session/supervisor"
)

// keepAlive stops proxies from closing an idle event stream.
const keepAlive = 15 * time.Second

// events is the agent's Server-Sent Events stream. Every event's id is its
// position in the store, the same on every replica (they share the store),
// so a desktop reconnecting with Last-Event-ID to any replica resumes
// exactly after what it saw. Without it, the stream opens with the agent's
// current state and open interactions.
//
// Live events come from the hub, the service's one read-model subscription
// fanned out in memory (issue 10); only the gap before them (a resume, or a
// resync after the hub dropped a slow stream) is read from the store, by a
// subscription that ends once the gap is closed.
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
	release, err := s.streams.acquire(s.cfg, id, r)
	if err != nil {
		return err
	}
	defer release()
	startEventStream(w)
	s.sse.Inc()
	defer s.sse.Dec()
	ctx := r.Context()

	sub, at := s.hub.subscribe(id, s.streamBuffer)
	// sub changes at a resync: unsubscribe whichever is current.
	defer func() { s.hub.unsubscribe(sub) }()
	last := at
	if resume {
		if last, err = s.catchUp(ctx, w, id, from, at); err != nil {
			s.streamEnded(ctx, id, err)
			return nil
		}
	} else if err := s.snapshot(w, id, at); err != nil {
		return nil
	}
	flusher.Flush()

	ping := time.NewTicker(keepAlive)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.hub.done: // the service stopped; the desktop reconnects to a replica that runs
			return nil
		case <-ping.C:
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			flusher.Flush()
		case f := <-sub.frames:
			if last, err = write(w, last, f); err != nil {
				return nil
			}
			// What else is queued goes before the flush: one for a burst.
			if last, err = drain(w, last, sub); err != nil {
				return nil
			}
			flusher.Flush()
		case <-sub.lost:
			// Too slow: the hub dropped this stream. What it queued is still
			// good; the rest is read from the store, then live again.
			if last, err = drain(w, last, sub); err != nil {
				return nil
			}
			s.resyncs.Inc()
			sub, at = s.hub.subscribe(id, s.streamBuffer)
			if last, err = s.catchUp(ctx, w, id, last, at); err != nil {
				s.streamEnded(ctx, id, err)
				return nil
			}
			flusher.Flush()
		}
	}
}

func (s *Service) streamEnded(ctx context.Context, id string, err error) {
	if ctx.Err() == nil {
		s.deps.Log.Debug("agent event stream ended", "agent", id, "err", err)
	}
}

// drain writes what sub has queued, without waiting for more.
func drain(w io.Writer, last eventstore.Position, sub *subscriber) (eventstore.Position, error) {
	for {
		select {
		case f := <-sub.frames:
			var err error
			if last, err = write(w, last, f); err != nil {
				return last, err
			}
		default:
			return last, nil
		}
	}
}

// write sends f unless the stream already went past it (a catch-up that
// read it from the store), returning the position the stream is at.
func write(w io.Writer, last eventstore.Position, f *frame) (eventstore.Position, error) {
	if !last.Less(f.pos) {
		return last, nil
	}
	if _, err := w.Write(f.data); err != nil {
		return last, err
	}
	return f.pos, nil
}

// snapshot sends the agent's state and open interactions as of at (or
// later: the view may already hold events after at, which then come again
// as frames, and a desktop applying a state twice shows the same).
func (s *Service) snapshot(w io.Writer, id string, at eventstore.Position) error {
	a, _ := s.view.agent(id)
	if err := send(w, at, "state", s.presentAgent(id, a)); err != nil {
		return err
	}
	for _, it := range s.view.openOf(id) {
		name := "interaction"
		if it.Phase == interaction.Offered {
			name = "offer" // a preview still waiting for the agent
		}
		if err := send(w, at, name, s.present(it)); err != nil {
			return err
		}
	}
	return nil
}

// render is the frame the desktops of c.agent get for the event at pos.
// It runs on the fold's goroutine, so the view is as of that event.
func (s *Service) render(c change) func(eventstore.Position) []byte {
	return func(pos eventstore.Position) []byte {
		var (
			name = "state"
			v    any
		)
		switch {
		case c.interaction == nil:
			a, _ := s.view.agent(c.agent)
			v = s.presentAgent(c.agent, a)
		case c.offer:
			name, v = "offer", s.present(*c.interaction)
		default:
			name, v = "interaction", s.present(*c.interaction)
		}
		b, err := frameOf(pos, name, v)
		if err != nil {
			s.deps.Log.Error("agent event stream: render", "agent", c.agent, "err", err)
			return nil
		}
		return b
	}
}

// fold is the projection's Apply: the view first, then the desktops.
func (s *Service) fold(r eventstore.RecordedEvent, m proto.Message) {
	s.super.apply(r, m)
	s.recent.apply(m, s.contactKey) // the Team Communicator's (directory.go)
	if e, ok := m.(*historyv1.ContactErased); ok {
		s.forgetErased(e)
		return
	}
	if strings.HasPrefix(r.Stream, supervisor.CallbackPrefix) {
		if e, ok := m.(*callbackv1.CallbackCancelled); ok {
			if c, ok := s.view.callbackCancelled(e.GetCallbackId(), e.GetReason()); ok {
				if n := s.hub.publish(r.Position, c.agent, s.render(c)); n > 0 {
					s.deps.Log.Debug("agent event streams too slow, resyncing", "agent", c.agent, "streams", n)
				}
			}
		}
		return // the board's otherwise
	}
	c := s.view.apply(r, m)
	if n := s.hub.publish(r.Position, c.agent, s.render(c)); n > 0 {
		s.deps.Log.Debug("agent event streams too slow, resyncing", "agent", c.agent, "streams", n)
	}
	if c.from != "" {
		// The interaction as it is now, someone else's: their desktop
		// closes its window ("Transferred to …").
		if n := s.hub.publish(r.Position, c.from, s.render(c)); n > 0 {
			s.deps.Log.Debug("agent event streams too slow, resyncing", "agent", c.from, "streams", n)
		}
	}
	if c.party != "" && c.party != c.agent {
		// A colleague's call rings (or stopped ringing) this agent's
		// browser: their own state again, with its party_call.
		if n := s.hub.publish(r.Position, c.party, s.render(change{agent: c.party})); n > 0 {
			s.deps.Log.Debug("agent event streams too slow, resyncing", "agent", c.party, "streams", n)
		}
	}
}

// Catch-ups read the store; these bound what a storm of reconnecting
// desktops (a replica restarted: all its desktops come back at once) asks
// of it.
const (
	// maxCatchUps is how many streams read their gap at once; the others
	// wait their turn (their hub buffers fill meanwhile, then they resync).
	maxCatchUps = 16
	// maxCatchUpEvents is the longest gap replayed event by event; a
	// desktop away for longer (a weekend) gets the snapshot instead: the
	// state lists the open interactions, and the desktop drops the others.
	maxCatchUpEvents = 100_000
)

var (
	// errCaughtUp ends a catch-up subscription once it reached the hub.
	errCaughtUp = errors.New("caught up")
	// errGapTooLong ends one that read maxCatchUpEvents without reaching it.
	errGapTooLong = errors.New("gap too long")
)

// catchUp sends the agent's events after from up to and including to,
// read from the store, and returns the position the stream is at. to is
// the position of an event (the hub's), so the subscription reaches it.
// A gap longer than maxCatchUpEvents is closed by a snapshot instead.
func (s *Service) catchUp(ctx context.Context, w io.Writer, id string, from, to eventstore.Position) (eventstore.Position, error) {
	if !from.Less(to) {
		return from, nil
	}
	select {
	case s.catchUps <- struct{}{}:
		defer func() { <-s.catchUps }()
	case <-ctx.Done():
		return from, ctx.Err()
	}
	last, read := from, 0
	folded := map[string]interaction.State{} // interaction streams met in this gap
	err := s.deps.Store.SubscribeAll(ctx, from, func(ctx context.Context, rec eventstore.RecordedEvent) error {
		if to.Less(rec.Position) {
			return errCaughtUp
		}
		if read++; read > s.maxCatchUp {
			return errGapTooLong
		}
		name, payload, ok := s.forAgent(ctx, id, rec, folded)
		if ok {
			if err := send(w, rec.Position, name, payload); err != nil {
				return err
			}
		}
		last = rec.Position
		if !last.Less(to) {
			return errCaughtUp
		}
		return nil
	})
	switch {
	case errors.Is(err, errCaughtUp):
		return to, nil
	case errors.Is(err, errGapTooLong):
		// What was sent is true but stale; the snapshot is as of to or later.
		return to, s.snapshot(w, id, to)
	}
	if err == nil {
		err = errors.New("subscription ended")
	}
	return last, fmt.Errorf("catch up from %v: %w", from, err)
}

// forAgent says whether a stored event concerns the agent and renders it.
// folded keeps the interactions met so far, each folded up to the last
// event seen, so a gap reads each interaction's stream once.
func (s *Service) forAgent(ctx context.Context, id string, rec eventstore.RecordedEvent,
	folded map[string]interaction.State) (string, any, bool) {
	if rec.Stream == agent.Stream(id) {
		a, _ := s.view.agent(id) // the view is at least at rec: the hub is
		return "state", s.presentAgent(id, a), true
	}
	if !strings.HasPrefix(rec.Stream, streams.AgentInteraction) {
		return "", nil, false
	}
	m, err := eventstore.Decode(rec)
	if err != nil {
		return "", nil, false
	}
	// The interaction as it was at this event: a replay shows each step as
	// it was, and an offer withdrawn from this agent is still theirs at
	// the event that withdrew it.
	st, ok := folded[rec.Stream]
	if ok {
		st = interactions.Evolve(st, m)
	} else if st, err = s.interactionAt(ctx, rec); err != nil {
		return "", nil, false
	}
	folded[rec.Stream] = st
	if t, ok := m.(*agentv1.InteractionTransferred); ok && t.FromAgentId == id {
		return "interaction", s.present(st), true // gone to another agent
	}
	if st.Agent != id {
		return "", nil, false
	}
	if _, offered := m.(*agentv1.InteractionPresented); offered {
		return "offer", s.present(st), true
	}
	return "interaction", s.present(st), true
}

func frameOf(pos eventstore.Position, name string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return fmt.Appendf(nil, "id: %d.%d\nevent: %s\ndata: %s\n\n", pos.Commit, pos.Prepare, name, b), nil
}

func send(w io.Writer, pos eventstore.Position, name string, v any) error {
	b, err := frameOf(pos, name, v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
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
		return interaction.State{}, fmt.Errorf("read %s: %w", rec.Stream, err)
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

// startEventStream answers 200 with an event stream's headers. The stream
// lives for hours: the server's read and write timeouts (cmd/ringback
// --http-…) are for requests, not for it. Where the writer cannot (a test
// recorder), there is no deadline to clear.
func startEventStream(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
}
