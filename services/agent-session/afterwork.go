package agentsession

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	"github.com/ringback/ringback/services/agent-session/agent"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// retryAfter is how soon a loop tries again a write that failed for a
// reason other than the domain's (the store unreachable, say).
const retryAfter = time.Second

// doneGrace is how long after Done the afterCallWorkLoop leaves putting
// the agent in After Call Work to the Done handler, which does it at once;
// past it, the handler's process must have died in between.
const doneGrace = 5 * time.Second

// doneHorizon bounds how old a Done the loop completes: a replica folding
// years of history must not put today's agent in After Call Work for an
// interaction of long ago whose After Call Work was refused then.
const doneHorizon = 10 * time.Minute

// doneCause roots the cause of the After Call Work that follows a Done.
const doneCause = "done:"

// afterCallWork puts the agent in After Call Work after Done, recording
// when it ends; the afterCallWorkLoop of whichever replica runs then sets
// the agent Ready (issue 10: a timer in one process died with it).
func (s *Service) afterCallWork(ctx context.Context, st interaction.State) error {
	return s.afterWork(ctx, st.Agent, eventstore.Cause{ID: doneCause + st.ID, Correlation: st.CallbackID})
}

// afterWork puts agent id in After Call Work for cause: after their Done,
// or once the interaction they transferred went to another agent.
func (s *Service) afterWork(ctx context.Context, id string, cause eventstore.Cause) error {
	now := s.deps.Clock.Now()
	out, err := s.onAgent(ctx, id, cause, agent.SetState{Agent: id, Channel: agent.WebCallback,
		State: agent.AfterCallWork, Cause: agentv1.StateCause_STATE_CAUSE_AFTER_CALL_WORK, At: now, System: true,
		Until: now.Add(s.cfg.AfterCallWork)})
	if err != nil {
		return fmt.Errorf("after call work of %s: %w", id, err)
	}
	if s.cfg.AfterCallWork > 0 || len(out.Events) == 0 || out.Expected == eventstore.NoStream {
		return nil
	}
	// None configured: Ready at once, without waiting for the loop to see
	// the view, under the cause the loop would use.
	return s.endAfterCallWork(ctx, id, eventstore.Revision(out.Expected), now)
}

// endAfterCallWork sets the agent Ready if the After Call Work begun at
// revision rev of their stream is due. The cause is named after that
// revision, so every replica writes the same event id; with the expected
// revision, two replicas racing store it once.
func (s *Service) endAfterCallWork(ctx context.Context, id string, rev eventstore.Revision, now time.Time) error {
	cause := eventstore.Cause{ID: "acw-end:" + id + ":" + strconv.FormatUint(rev, 10)}
	_, err := s.onAgent(ctx, id, cause, agent.EndAfterCallWork{Agent: id, Default: s.cfg.AfterCallWork, At: now})
	if err != nil {
		return fmt.Errorf("end after call work of %s: %w", id, err)
	}
	return nil
}

// afterCallWorkLoop ends every After Call Work that is due, from the read
// model: woken at the earliest end and when the view changes, rescanning
// only when an agent entered or left After Call Work (or a Done awaits
// its After Call Work). Every replica runs it; a restarted or new replica
// ends what fell due while nobody ran, once it has caught up.
func (s *Service) afterCallWorkLoop(ctx context.Context) error {
	var (
		timer <-chan time.Time
		seen  uint64
		scan  = true
	)
	for {
		changed := s.proj.Changed()
		// A view still catching up may show an After Call Work long ended.
		if s.proj.Ready() == nil {
			if v := s.view.afterWorkChanged(); scan || v != seen {
				seen, timer = v, nil
				if next := s.endDueAfterCallWork(ctx); !next.IsZero() {
					timer = s.deps.Clock.After(next.Sub(s.deps.Clock.Now()))
				}
			}
		}
		scan = false
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-timer:
			scan = true
		}
	}
}

// endDueAfterCallWork ends what is due and says when the next is (zero:
// nothing pending).
func (s *Service) endDueAfterCallWork(ctx context.Context) (next time.Time) {
	now := s.deps.Clock.Now()
	for _, st := range s.view.finishedWithoutAfterCallWork() {
		if due := st.Updated.Add(doneGrace); due.After(now) {
			next = earliest(next, due)
			continue
		}
		// Only an agent still Busy is stuck; one who moved on is not.
		if a, _ := s.view.agent(st.Agent); now.Sub(st.Updated) > doneHorizon || a.Channels[agent.WebCallback].State != agent.Busy {
			s.view.forget(st.ID)
			continue
		}
		// The same cause as the handler's: one After Call Work whoever writes it.
		err := s.afterCallWork(ctx, st)
		switch {
		case err == nil, isDomain(err): // done, or never will be
			s.view.forget(st.ID)
		case ctx.Err() == nil:
			s.deps.Log.Warn("after call work after done", "interaction", st.ID, "agent", st.Agent, "err", err)
			next = earliest(next, now.Add(retryAfter))
		}
	}
	for _, w := range s.view.inAfterCallWork() {
		due, ok := w.state.AfterCallWorkDue(s.cfg.AfterCallWork)
		if !ok {
			continue
		}
		if due.After(now) {
			next = earliest(next, due)
			continue
		}
		if err := s.endAfterCallWork(ctx, w.agent, w.rev, now); err != nil && ctx.Err() == nil {
			s.deps.Log.Warn("after call work: back to ready failed", "agent", w.agent, "err", err)
			next = earliest(next, now.Add(retryAfter))
		}
	}
	return next
}

// sleep waits until the view changes, the clock reaches next (zero: no
// timer) or ctx is done (its error).
func (s *Service) sleep(ctx context.Context, changed <-chan struct{}, next time.Time) error {
	var timer <-chan time.Time
	if !next.IsZero() {
		timer = s.deps.Clock.After(next.Sub(s.deps.Clock.Now()))
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-changed:
	case <-timer:
	}
	return nil
}

func earliest(cur, t time.Time) time.Time {
	if cur.IsZero() || t.Before(cur) {
		return t
	}
	return cur
}
