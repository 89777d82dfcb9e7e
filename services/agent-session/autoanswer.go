package agentsession

import (
	"context"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// autoAnswerMargin keeps an auto-answer inside the offer: accepting at the
// instant the router times the offer out would lose the race.
const autoAnswerMargin = 500 * time.Millisecond

// autoAnswerAt is when an offer to an auto-answer agent is accepted.
func autoAnswerAt(ev *routingv1.InteractionOffered, after time.Duration) time.Time {
	at := ev.OfferedAt.AsTime().Add(after)
	if latest := ev.ExpiresAt.AsTime().Add(-autoAnswerMargin); at.After(latest) {
		at = latest
	}
	return at
}

// autoAnswer accepts offers whose countdown ran out, as the agent would by
// clicking Accept. The countdowns come from the view, so a restarted
// process picks them up again; an offer accepted twice is one accept.
func (s *Service) autoAnswer(ctx context.Context) error {
	for {
		changed := s.proj.Changed()
		now := s.deps.Clock.Now()
		var next time.Time
		for _, st := range s.view.autoAnswers() {
			if st.AutoAnswer.After(now) {
				if next.IsZero() || st.AutoAnswer.Before(next) {
					next = st.AutoAnswer
				}
				continue
			}
			_, err := s.onInteraction(ctx, st.ID, eventstore.Cause{ID: "auto-answer:" + st.OfferID, Correlation: st.CallbackID},
				interaction.Accept{Agent: st.Agent, At: now})
			if err != nil && !isDomain(err) && ctx.Err() == nil {
				s.deps.Log.Warn("auto-answer", "interaction", st.ID, "err", err)
			}
		}
		var timer <-chan time.Time
		if !next.IsZero() {
			timer = s.deps.Clock.After(next.Sub(now))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-timer:
		}
	}
}
