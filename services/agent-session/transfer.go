package agentsession

import (
	"context"
	"fmt"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	"github.com/ringback/ringback/services/agent-session/agent"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// callTransferred records that the contact talks to the party now. A call
// transferred to an agent takes the interaction with it (issue 15): the
// receiving agent is Busy handling it (no longer "on a call with" the
// first, which would strand them once the call ends), and the first agent
// goes on as after Done. The agents' states follow from the interaction's
// stream, under causes named after the handover, so a redelivery (after a
// crash between the writes) completes what is missing and repeats nothing.
func (s *Service) callTransferred(ctx context.Context, cause eventstore.Cause, ev *mediav1.CallTransferred, at time.Time) error {
	out, err := s.onInteraction(ctx, ev.InteractionId, cause, interaction.NoteTransfer{CallID: ev.CallId, Party: ev.Party, At: at})
	if err != nil {
		return err
	}
	st := out.State
	n := len(st.Transfers)
	if n == 0 {
		return nil
	}
	h := st.Transfers[n-1]
	if h.CallID != ev.CallId || st.Agent != h.To {
		return nil // not this call's transfer, or the interaction moved on since
	}
	root := fmt.Sprintf("transfer:%s:%d", st.ID, n)
	busy := eventstore.Cause{ID: root + ":to", Correlation: st.CallbackID}
	_, err = s.onAgent(ctx, h.To, busy, agent.SetState{Agent: h.To, Channel: agent.WebCallback, State: agent.Busy,
		Cause: agentv1.StateCause_STATE_CAUSE_HANDLING_CALLBACK, At: at, System: true})
	if err != nil && !isDomain(err) {
		return fmt.Errorf("busy with the transferred interaction: %w", err)
	}
	if err := s.afterWork(ctx, h.From, eventstore.Cause{ID: root + ":from", Correlation: st.CallbackID}); err != nil && !isDomain(err) {
		return err
	}
	return nil
}
