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
// clicking Accept. The countdowns are stored with the offer
// (InteractionPresented.auto_answer_at) and read from the view, so a
// restarted or other replica picks them up again; the cause is named after
// the offer, so replicas racing accept once.
func (s *Service) autoAnswer(ctx context.Context) error {
	for {
		changed := s.proj.Changed()
		var next time.Time
		if s.proj.Ready() == nil { // a view still catching up may show an offer long gone
			now := s.deps.Clock.Now()
			for _, st := range s.view.autoAnswers() {
				if st.AutoAnswer.After(now) {
					next = earliest(next, st.AutoAnswer)
					continue
				}
				_, err := s.onInteraction(ctx, st.ID, eventstore.Cause{ID: "auto-answer:" + st.OfferID, Correlation: st.CallbackID},
					interaction.Accept{Agent: st.Agent, At: now})
				if err != nil && !isDomain(err) && ctx.Err() == nil {
					s.deps.Log.Warn("auto-answer", "interaction", st.ID, "err", err)
					next = earliest(next, now.Add(retryAfter))
				}
			}
		}
		if err := s.sleep(ctx, changed, next); err != nil {
			return nil //nolint:nilerr // sleep fails only when stopped
		}
	}
}
