package router

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/eventstore"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/router/offer"
	"github.com/ringback/ringback/services/router/queue"
)

// fenceStream records each start of the dispatcher (see fence).
const fenceStream = "router-dispatcher-main"

// Retry bounds for store failures. They pace retries against the
// infrastructure, not business time, so they run on the wall clock.
const (
	retryMin = 50 * time.Millisecond
	retryMax = 2 * time.Second
)

// dispatch is the router's single writer of offers and timeouts. It decides
// on the model, writes one event, and waits until the model has folded that
// write before deciding again. Being the only offer writer and never deciding
// on a model that lacks its own last write is what keeps an agent from
// holding two offers; the interaction stream's expected revision keeps an
// interaction from being offered twice.
func (s *Service) dispatch(ctx context.Context) error {
	if err := s.fence(ctx); err != nil {
		return err
	}
	var (
		timer <-chan time.Time
		armed time.Time // expiry the timer is set for
		wait  = retryMin
	)
	for {
		// Taken before deciding, so a change folded while we decide wakes us.
		changed := s.proj.Changed()
		now := s.deps.Clock.Now()
		s.mu.Lock()
		act, ok := s.model.Next(now)
		expiry, live := s.model.NextExpiry()
		s.mu.Unlock()

		if ok {
			progressed, err := s.act(ctx, act, now)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				s.deps.Log.WarnContext(ctx, "dispatch failed, retrying", "interaction", act.Interaction, "agent", act.Agent, "err", err, "in", wait)
				if !sleep(ctx, wait) {
					return nil
				}
				wait = min(wait*2, retryMax)
				continue
			}
			wait = retryMin
			if !progressed {
				// The stream was ahead of the model (an answer the inbox just
				// wrote): decide again once the model has caught up.
				select {
				case <-ctx.Done():
					return nil
				case <-changed:
				}
			}
			continue
		}

		switch {
		case !live:
			timer, armed = nil, time.Time{}
		case !expiry.Equal(armed):
			timer, armed = s.deps.Clock.After(expiry.Sub(now)), expiry
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-timer:
			timer, armed = nil, time.Time{}
		}
	}
}

// act writes what the model asked for and waits until the model includes it.
// It reports whether anything was written.
func (s *Service) act(ctx context.Context, a queue.Action, now time.Time) (bool, error) {
	var (
		out eventstore.Outcome[offer.State]
		err error
	)
	switch a.Kind {
	case queue.Offer:
		// The cause is the offer's own id: a dispatcher that wrote it and
		// crashed before seeing it writes nothing the second time.
		id := offer.OfferID(a.Interaction, a.Attempt)
		out, err = s.execute(ctx, a.Interaction, eventstore.Cause{ID: "offer:" + id, Correlation: a.CallbackID},
			offer.Make{Agent: a.Agent, At: now, Timeout: s.cfg.offerTimeout(a.Service)})
		if errors.Is(err, offer.ErrNotWaiting) {
			return false, nil
		}
	case queue.Expire:
		out, err = s.execute(ctx, a.Interaction, eventstore.Cause{ID: "timeout:" + a.OfferID, Correlation: a.CallbackID},
			offer.Expire{OfferID: a.OfferID, At: now})
	default:
		return false, fmt.Errorf("unknown action %d", a.Kind)
	}
	if err != nil {
		return false, err
	}
	if len(out.Events) == 0 {
		return false, nil
	}
	if a.Kind == queue.Offer {
		s.offers.Inc()
		if a.Attempt == 1 {
			s.queuedToOff.Observe(now.Sub(a.QueuedAt).Seconds())
		}
	}
	return true, s.proj.WaitFor(ctx, out.Position)
}

// fence writes a DispatcherStarted and waits until the model has folded it.
// The store has no "you are caught up" signal, and a model still replaying
// could show an agent free whose later offer it has not folded yet; past the
// fence it holds every offer a previous run made.
func (s *Service) fence(ctx context.Context) error {
	id := uuid.NewString()
	wait := retryMin
	for {
		out, err := eventstore.Execute(ctx, s.deps.Store, fenceStream, fences, eventstore.Cause{ID: "dispatcher:" + id},
			func(struct{}) ([]proto.Message, error) {
				return []proto.Message{&routingv1.DispatcherStarted{At: timestamppb.New(s.deps.Clock.Now()), InstanceId: id}}, nil
			})
		if err == nil {
			if err := s.proj.WaitFor(ctx, out.Position); err != nil && ctx.Err() == nil {
				return fmt.Errorf("dispatcher fence: %w", err)
			}
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		s.deps.Log.WarnContext(ctx, "dispatcher fence failed, retrying", "err", err, "in", wait)
		if !sleep(ctx, wait) {
			return nil
		}
		wait = min(wait*2, retryMax)
	}
}

var fences = eventstore.Aggregate[struct{}]{Evolve: func(s struct{}, _ proto.Message) struct{} { return s }}

// sleep waits d or until ctx is done, and says whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
