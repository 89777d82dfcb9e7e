package agentsession

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/httpx"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	"github.com/ringback/ringback/services/agent-session/agent"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// Blind transfer, consultation and conference (routes in routeTable): the
// agent asks, the media gateway does it and says so on the call's stream.

// askParty transfers the call blind to, or consults, an agent or a number.
// An agent party must be Ready on web callback: they are made Busy before
// the request is written, so the router stops offering them callbacks, and
// given back if the request is refused after all. The answer comes once the
// party rings, or the request failed.
func (s *Service) askParty(purpose interaction.Purpose) httpx.Func {
	mk := func(who string, p interaction.Party, now time.Time) interaction.Command {
		if purpose == interaction.PurposeTransfer {
			return interaction.Transfer{Agent: who, Party: p, At: now}
		}
		return interaction.Consult{Agent: who, Party: p, At: now}
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		var body struct {
			Agent       string `json:"agent"`
			PhoneNumber string `json:"phone_number"`
		}
		if err := httpx.DecodeJSON(w, r, &body); err != nil {
			return err
		}
		ctx := r.Context()
		id := r.PathValue("id")
		st, err := s.loadInteraction(ctx, id)
		if err != nil {
			return err
		}
		who, err := s.actor(w, r, st)
		if err != nil {
			return err
		}
		party := interaction.Party{Agent: body.Agent, PhoneNumber: body.PhoneNumber}
		if party.Agent != "" && agentauth.ValidID(party.Agent) { // else Decide refuses it
			a, err := s.agentNow(ctx, party.Agent)
			if err != nil {
				return err
			}
			party.PhoneURI = phoneOf(party.Agent, a)
		}
		now := s.deps.Clock.Now()
		// Refusals first, so that nothing is stored for a request refused
		// (bad party, no call, not this agent's interaction).
		evs, err := interaction.Decide(st, mk(who, party, now))
		if err != nil {
			return problem(err)
		}
		if party.PhoneNumber != "" {
			// Never an emergency, premium or service number, whatever the
			// agent types (issue 16); the media gateway checks once more.
			if err := s.plan.Check(party.PhoneNumber); err != nil {
				return httpx.BadField("phone_number", "cannot be called: "+
					strings.TrimPrefix(err.Error(), "refused by the dial plan: "))
			}
		}
		cause := eventstore.Cause{ID: uuid.NewString(), Correlation: st.CallbackID}
		reserved := false
		if len(evs) > 0 && party.Agent != "" {
			if party.PhoneURI, err = s.reserve(ctx, cause, party.Agent, st.Agent, now); err != nil {
				return problem(err)
			}
			reserved = true
		}
		out, err := s.onInteraction(ctx, id, cause, mk(who, party, now))
		if reserved && (err != nil || len(out.Events) == 0) {
			// The interaction changed since it was read: the party is not rung.
			if rerr := s.release(ctx, eventstore.Cause{ID: "unreserve:" + cause.ID, Correlation: cause.Correlation},
				party.Agent, st.Agent, now); rerr != nil {
				s.deps.Log.ErrorContext(ctx, "release a party agent", "agent", party.Agent, "err", rerr)
			}
		}
		if err != nil {
			return problem(err)
		}
		return s.answer(w, r, id, out, func(st interaction.State) bool {
			return st.Third.Status != interaction.PartyNone || !st.Third.Asked()
		})
	}
}

// reserve makes agent id Busy on a call with caller and returns their phone.
func (s *Service) reserve(ctx context.Context, cause eventstore.Cause, id, caller string, now time.Time) (string, error) {
	// An offer still on their desktop would make them Busy with a callback
	// as well; the router withdraws or confirms it soon.
	if len(s.view.openOf(id)) > 0 {
		return "", fmt.Errorf("%w: %s has a web callback on their desktop", agent.ErrUnavailable, id)
	}
	out, err := s.onAgent(ctx, id, cause, agent.Reserve{Agent: id, With: caller, At: now})
	if err != nil {
		return "", err
	}
	return phoneOf(id, out.State), nil
}

// release makes agent id Ready again if they are still Busy on a call with
// caller, and nothing else took them since.
func (s *Service) release(ctx context.Context, cause eventstore.Cause, id, caller string, now time.Time) error {
	_, err := s.onAgent(ctx, id, cause, agent.Release{Agent: id, With: caller, At: now})
	if err != nil {
		return fmt.Errorf("release %s: %w", id, err)
	}
	return nil
}

// endConsult ends a consultation: cancel drops the party, transfer leaves
// the contact with them, conference joins all three. The answer comes once
// the gateway did it, or could not.
func (s *Service) endConsult(c agentv1.ConsultCompletion) httpx.Func {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.command(w, r, func(a string, now time.Time) interaction.Command {
			return interaction.EndConsult{Agent: a, Completion: c, At: now}
		}, func(st interaction.State) bool {
			return st.Third.Ending == agentv1.ConsultCompletion_CONSULT_COMPLETION_UNSPECIFIED || st.CallStatus == interaction.ReadyToCall
		})
	}
}
