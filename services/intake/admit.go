package intake

// One open callback per number and service, and at most
// --intake.max-open-per-number across services, across replicas, without
// a lock: the number's claim stream (contact package) holds its open
// callbacks and is appended with the revision read, so of two replicas
// admitting the same number the store accepts one claim and the other
// reads it and decides again (409 when the service is held or the cap
// reached). Everything below holds for each holder of the set.
//
// The claim and the callback are two streams. On a store that appends to
// several at once (eventstore.PartsAppender: the embedded store in one
// frame, PostgreSQL in one transaction) they are one append, decided
// together: the request carries its claim (planClaim,
// eventstore.ExecuteAlso), neither is ever written without the other, and
// a request waits for one sync, not two (issue 12). A claim whose stream
// moved before the append is decided again. On KurrentDB they are two
// appends, and a process can die between them. The order is claim first,
// then CallbackRequested, because only that order never admits two:
//
//   - The callback is what the rest of the platform acts on (the relay
//     publishes it, the scheduler schedules it), so it is written only
//     once its number is held. Written first, a crash before the claim
//     would leave an open callback no claim knows of, and a second request
//     for the number would be admitted beside it.
//   - A crash after the claim leaves a claim whose callback does not exist.
//     A later request finds it (Holder.Requested false) and counts it as
//     held for ClaimGrace; after that it voids the claimant's callback:
//     CallbackVoided appended at "no stream" on intake-callback-<id>, the
//     very expectation the late CallbackRequested is appended with, so the
//     store lets exactly one of the two land. If the request landed, the
//     callback is real and keeps the number (409). If the void landed, the
//     request can never be written (callback.ErrVoided) and the number
//     passes on. A number is blocked by a dead writer for ClaimGrace, never
//     for ever; and a writer paused past it loses cleanly.
//   - The release follows the callback's final event (cancel here,
//     COMPLETED from the bus in inbox.go). A crash between the two leaves
//     a claim held by a callback that has ended; the next request reads
//     that (Holder.Open false) and claims over it. The bus redelivers the
//     final event after a crash anyway, and releasing twice is a no-op.
//
// Idempotency keys: a key makes the callback id, so a retried POST finds
// its callback written (200, no claim) or its own claim (Decide: ours, a
// no-op) and writes the request its first attempt did not. So a request
// the store failed to write keeps its claim when it has a key (the client
// retries it); without one nobody can, and it voids itself and releases
// the number at once (abandon). Callbacks written without a claim on the
// number's stream, by an older version, are claimed by claimer.go.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/services/intake/callback"
	"github.com/ringback/ringback/services/intake/contact"
)

// writeTimeout bounds the appends of an admission once its claim is
// written: they go on when the client hangs up, so that a claim is left
// unfinished only by a dead process, not by an impatient browser.
const writeTimeout = 10 * time.Second

var (
	contactAggregate = eventstore.Aggregate[contact.State]{Evolve: contact.Evolve}
	keyAggregate     = eventstore.Aggregate[[]byte]{Evolve: contact.KeyOf}
)

// contactKey is the key of the claim streams' names: drawn by the first
// replica that needs one and written at "no stream", so every replica of
// every generation reads the same. It lives in the store, beside the
// callbacks that hold the numbers in clear anyway; what it keeps numbers
// out of is stream names, and so logs, traces and Kafka message keys.
func (s *Service) contactKey(ctx context.Context) ([]byte, error) {
	if k := s.key.Load(); k != nil {
		return *k, nil
	}
	drawn := make([]byte, contact.KeySize)
	if _, err := rand.Read(drawn); err != nil {
		return nil, fmt.Errorf("draw contact key: %w", err)
	}
	now := s.deps.Clock.Now()
	// A fresh cause: with a fixed one, a replica that lost the race would
	// take the winner's event for its own replay and keep its own key.
	out, err := eventstore.Execute(ctx, s.deps.Store, contact.KeyStream, keyAggregate,
		eventstore.Cause{ID: uuid.NewString()},
		func(cur []byte) ([]proto.Message, error) { return contact.DecideKey(cur, drawn, now) })
	if err != nil {
		return nil, fmt.Errorf("contact key: %w", err)
	}
	k := out.State
	s.key.Store(&k)
	return k, nil
}

// claiming says whether admissions claim the number at all: for the rule
// per service, the cap, or the number's rate, all decided on its stream.
func (c *Config) claiming() bool {
	return c.RefuseDuplicates || c.MaxOpenPerNumber > 0 || !c.Limits.PerNumber.Off()
}

// contactStream is the claim stream of a number.
func (s *Service) contactStream(ctx context.Context, number string) (string, error) {
	key, err := s.contactKey(ctx)
	if err != nil {
		return "", err
	}
	return contact.NumberStream(key, number), nil
}

// holder reads what the claim's decision needs to know of a holder's
// callback.
func (s *Service) holder(ctx context.Context, id, service, number string) (contact.Holder, error) {
	l, err := eventstore.Load(ctx, s.deps.Store, callback.Stream(id), aggregate)
	if err != nil {
		return contact.Holder{}, err
	}
	st := l.State
	return contact.Holder{Requested: st.Exists, Open: st.Open(), Voided: st.Voided,
		SameContact: st.Request.GetService() == service && st.Request.GetPhoneNumber() == number}, nil
}

// claim takes the number for callback id of service, or answers why not
// (a *contact.HeldError, *contact.CapError or *contact.RateError). adopt records a callback
// already open whatever the rules (claimer.go).
func (s *Service) claim(ctx context.Context, stream, id, service, number string, adopt bool) error {
	_, err := eventstore.Execute(ctx, s.deps.Store, stream, contactAggregate,
		eventstore.Cause{ID: uuid.NewString()}, s.claimDecision(ctx, id, service, number, adopt))
	return err
}

// planClaim decides id's claim on the number's stream without appending
// it: the part the request's append carries (ExecuteAlso), so that on a
// store that appends parts at once the claim and the callback are written
// together, in one sync, and neither ever stands without the other (on
// another store the claim goes first, as the order above says). nil: no
// claim to write (the number is id's already, a retry's).
func (s *Service) planClaim(ctx context.Context, stream, id, service, number string) (*eventstore.Part, error) {
	l, err := eventstore.Load(ctx, s.deps.Store, stream, contactAggregate)
	if err != nil {
		return nil, err
	}
	events, err := s.claimDecision(ctx, id, service, number, false)(l.State)
	if err != nil || len(events) == 0 {
		return nil, err
	}
	data, err := eventstore.Encode(ctx, stream, eventstore.Cause{ID: uuid.NewString()}, events)
	if err != nil {
		return nil, err
	}
	return &eventstore.Part{Stream: stream, Expected: l.Expected, Events: data}, nil
}

// claimDecision decides id's claim of number for service on its stream's
// state, voiding on the way the requests of claims abandoned past the
// grace.
func (s *Service) claimDecision(ctx context.Context, id, service, number string, adopt bool) func(contact.State) ([]proto.Message, error) {
	now := s.deps.Clock.Now()
	return func(st contact.State) ([]proto.Message, error) {
		holders := make(map[string]contact.Holder, len(st.Holders))
		for hid, hold := range st.Holders {
			if hid == id {
				continue
			}
			h, err := s.holder(ctx, hid, hold.Service, number)
			if err != nil {
				return nil, err
			}
			if contact.Abandoned(hold, h, now, s.cfg.claimGrace()) {
				if h, err = s.void(ctx, hid, now, hold.Service, number); err != nil {
					return nil, err
				}
			}
			holders[hid] = h
		}
		return contact.Decide(st, contact.Claim{CallbackID: id, Service: service, At: now, Holders: holders,
			OnePerService: s.cfg.RefuseDuplicates, Max: s.cfg.MaxOpenPerNumber, Adopt: adopt, Rate: s.cfg.Limits.PerNumber})
	}
}

// void writes off the request of an abandoned claim, racing its writer on
// the callback's stream, and says what the holder is after that race.
func (s *Service) void(ctx context.Context, id string, now time.Time, service, number string) (contact.Holder, error) {
	_, err := s.execute(ctx, id, eventstore.Cause{ID: "void:" + id, Correlation: id},
		callback.Void{ID: id, At: now, Reason: "claim abandoned: request not written within the claim grace"})
	switch {
	case errors.Is(err, callback.ErrExists):
		s.deps.Log.Info("abandoned claim's request was written after all", "callback", id)
	case err != nil:
		return contact.Holder{}, err
	default:
		s.voided.Inc()
		s.deps.Log.Warn("voided a callback whose request was never written", "callback", id)
	}
	return s.holder(ctx, id, service, number)
}

// release frees the number of a callback that reached a final state.
func (s *Service) release(ctx context.Context, st callback.State, reason string) error {
	if !s.cfg.claiming() || !st.Exists {
		return nil
	}
	stream, err := s.contactStream(ctx, st.Request.GetPhoneNumber())
	if err != nil {
		return err
	}
	_, err = eventstore.Execute(ctx, s.deps.Store, stream, contactAggregate,
		eventstore.Cause{ID: "release:" + st.ID},
		func(cs contact.State) ([]proto.Message, error) {
			return contact.Decide(cs, contact.Release{CallbackID: st.ID, At: s.deps.Clock.Now(), Reason: reason})
		})
	if err != nil {
		return fmt.Errorf("release contact of callback %s: %w", st.ID, err)
	}
	return nil
}

// abandon undoes a claim whose request could not be written (the store
// failed) and will not be retried (it had no Idempotency-Key): void the
// request, then free the number, so the next request need not wait for the
// grace. Best effort: the grace covers a failure here.
func (s *Service) abandon(stream, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	now := s.deps.Clock.Now()
	_, err := s.execute(ctx, id, eventstore.Cause{ID: "void:" + id, Correlation: id},
		callback.Void{ID: id, At: now, Reason: "request could not be written"})
	if err != nil {
		s.deps.Log.Warn("could not void an unwritten request; its number waits for the claim grace", "callback", id, "err", err)
		return
	}
	_, err = eventstore.Execute(ctx, s.deps.Store, stream, contactAggregate, eventstore.Cause{ID: "release:" + id},
		func(cs contact.State) ([]proto.Message, error) {
			return contact.Decide(cs, contact.Release{CallbackID: id, At: now, Reason: "request voided"})
		})
	if err != nil {
		s.deps.Log.Warn("could not release the number of a voided request", "callback", id, "err", err)
	}
}
