package agentsession

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// DefaultFactWait: the bus brings another service's fact in milliseconds
// on a healthy platform; two seconds covers a replica's GC pause or a
// consumer's rebalance, and is short enough for a person clicking.
const DefaultFactWait = 2 * time.Second

func (s *Service) factWait() time.Duration {
	if s.cfg.FactWait == 0 {
		return DefaultFactWait
	}
	return s.cfg.FactWait
}

// awaitInteraction loads an interaction, waiting for it when it is not
// there yet: a client that learnt its id from intake, or from an offer on
// another replica, may be ahead of the router's event reaching this
// service. Only a well-formed id waits; an unknown one is a 404 after the
// wait.
func (s *Service) awaitInteraction(ctx context.Context, id string) (interaction.State, error) {
	st, err := s.loadInteraction(ctx, id)
	var p *httpx.Problem
	if err == nil || !errors.As(err, &p) || p.Status != http.StatusNotFound || uuid.Validate(id) != nil {
		return st, err
	}
	if !s.awaitFact(ctx, id, func(interaction.State) bool { return true }) {
		return st, err
	}
	return s.loadInteraction(ctx, id)
}

// awaitFact waits, at most the fact wait, until this replica's view holds
// interaction id in a state where holds is true, and says whether it does.
func (s *Service) awaitFact(ctx context.Context, id string, holds func(interaction.State) bool) bool {
	wait := s.factWait()
	if wait <= 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return s.proj.WaitUntil(ctx, func() bool { st, ok := s.view.interaction(id); return ok && holds(st) }) == nil
}

func hasDisposition(st interaction.State) bool { return st.Disposition != "" }
