package router

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/clock"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/streams"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/router/offer"
	"github.com/ringback/ringback/services/router/queue"
)

// fenceStream records each start of the dispatcher (see fence).
const fenceStream = streams.RouterDispatcher + "main"

// Retry bounds for store failures. They pace retries against the
// infrastructure, not business time, so they run on the wall clock.
const (
	retryMin = 50 * time.Millisecond
	retryMax = 2 * time.Second
)

// dispatch is the router's single writer of offers, timeouts and missed-offer
// stops. It decides a batch of actions on the model (no two sharing an
// interaction or an agent), writes them, and waits until the model has folded
// those writes before deciding again. Being the only offer writer and never
// deciding on a model that lacks its own last writes is what keeps an agent
// from holding two offers; the interaction stream's expected revision keeps
// an interaction from being offered twice.
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
		var (
			taken queue.Taken
			batch []queue.Action
		)
		// A batch is written concurrently: appends in flight together share
		// one fsync (group commit), so a burst of due callbacks is offered in
		// a few syncs instead of one sync per offer.
		for len(batch) < s.cfg.DispatchBatch {
			act, ok := s.model.NextExcept(now, &taken)
			if !ok {
				break
			}
			batch = append(batch, act)
			taken.Add(act)
		}
		expiry, live := s.model.NextExpiry()
		s.mu.Unlock()

		if len(batch) > 0 {
			progressed, err := s.actAll(ctx, batch, now)
			if ctx.Err() != nil {
				return nil //nolint:nilerr // stopping: the write failing under the stop is the stop
			}
			if errors.Is(err, eventstore.ErrFenced) {
				return err // deposed: another replica dispatches now
			}
			if err != nil {
				s.deps.Log.WarnContext(ctx, "dispatch failed, retrying", "actions", len(batch), "err", err, "in", wait)
				if !clock.Sleep(ctx, wait) {
					return nil
				}
				wait = min(wait*2, retryMax)
				// A failed append may still have been stored: fence again so
				// the next decision sees it, whatever it was.
				if err := s.fence(ctx); err != nil {
					return err
				}
				continue
			}
			wait = retryMin
			if !progressed {
				// The streams were ahead of the model (an answer the inbox
				// just wrote): decide again once the model has caught up.
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

// actAll writes a batch concurrently and waits until the model includes
// every write. It reports whether anything was written.
func (s *Service) actAll(ctx context.Context, batch []queue.Action, now time.Time) (bool, error) {
	type result struct {
		pos   eventstore.Position
		wrote bool
		err   error
	}
	results := make([]result, len(batch))
	var wg sync.WaitGroup
	for i, a := range batch {
		wg.Go(func() {
			r := &results[i]
			r.pos, r.wrote, r.err = s.act(ctx, a, now)
		})
	}
	wg.Wait()
	var (
		last  eventstore.Position
		wrote bool
		errs  []error
	)
	for i, r := range results {
		if r.err != nil {
			errs = append(errs, fmt.Errorf("%s %s/%s: %w", kindName(batch[i].Kind), batch[i].Interaction, batch[i].Agent, r.err))
			continue
		}
		if r.wrote {
			wrote = true
			if last.Less(r.pos) {
				last = r.pos
			}
		}
	}
	if len(errs) > 0 {
		return wrote, errors.Join(errs...)
	}
	if !wrote {
		return false, nil
	}
	return true, s.proj.WaitFor(ctx, last)
}

func kindName(k queue.Kind) string {
	switch k {
	case queue.Offer:
		return "offer"
	case queue.Expire:
		return "expire"
	case queue.StopOffers:
		return "stop offers"
	case queue.Release:
		return "release"
	}
	return fmt.Sprintf("kind %d", k)
}

// act writes what the model asked for, and says where and whether it wrote.
func (s *Service) act(ctx context.Context, a queue.Action, now time.Time) (eventstore.Position, bool, error) {
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
			offer.Make{Agent: a.Agent, At: now, Timeout: a.Timeout})
		if errors.Is(err, offer.ErrNotWaiting) {
			return eventstore.Position{}, false, nil
		}
	case queue.Expire:
		out, err = s.execute(ctx, a.Interaction, eventstore.Cause{ID: "timeout:" + a.OfferID, Correlation: a.CallbackID},
			offer.Expire{OfferID: a.OfferID, At: now})
	case queue.StopOffers:
		return s.stopOffers(ctx, a, now)
	case queue.Release:
		// An interaction is reserved once, when it is queued: its id names
		// the release.
		out, err = s.execute(ctx, a.Interaction, eventstore.Cause{ID: "release:" + a.Interaction, Correlation: a.CallbackID},
			offer.Release{At: now})
	default:
		return eventstore.Position{}, false, fmt.Errorf("unknown action %d", a.Kind)
	}
	if err != nil {
		return eventstore.Position{}, false, err
	}
	if len(out.Events) == 0 {
		return eventstore.Position{}, false, nil
	}
	if a.Kind == queue.Offer {
		s.offers.Inc()
		if a.Attempt == 1 {
			s.queuedToOff.Observe(now.Sub(a.QueuedAt).Seconds())
		}
	}
	return out.Position, true, nil
}

// stopOffers records that an agent missed too many offers in a row, which
// agent-session turns into Not Ready "Missed offer". The cause is the last
// missed offer, so a retry writes it once.
func (s *Service) stopOffers(ctx context.Context, a queue.Action, now time.Time) (eventstore.Position, bool, error) {
	if len(a.Missed) == 0 {
		return eventstore.Position{}, false, nil
	}
	out, err := eventstore.Execute(ctx, s.deps.Store, queue.AgentStream(a.Agent), agents,
		eventstore.Cause{ID: "missed:" + a.Missed[len(a.Missed)-1]},
		func(st queue.Availability) ([]proto.Message, error) {
			return queue.DecideAgent(st, queue.StopOffering{AgentID: a.Agent, OfferIDs: a.Missed, At: now}), nil
		})
	if err != nil || len(out.Events) == 0 {
		return eventstore.Position{}, false, err
	}
	s.missed.Inc()
	s.deps.Log.InfoContext(ctx, "agent missed offers: no more offers until ready again", "agent", a.Agent, "missed", len(a.Missed))
	return out.Position, true, nil
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
			return nil //nolint:nilerr // stopping: the write failing under the stop is the stop
		}
		if errors.Is(err, eventstore.ErrFenced) {
			return err
		}
		s.deps.Log.WarnContext(ctx, "dispatcher fence failed, retrying", "err", err, "in", wait)
		if !clock.Sleep(ctx, wait) {
			return nil
		}
		wait = min(wait*2, retryMax)
	}
}

var fences = eventstore.Aggregate[struct{}]{Evolve: func(s struct{}, _ proto.Message) struct{} { return s }}
