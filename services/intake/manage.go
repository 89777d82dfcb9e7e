package intake

// Managing a callback after its request: read, reschedule, cancel. Each is
// an exported method as well as a route, so that other front doors (the
// visitor's self-service link, the GMS-compatible API) share one
// behaviour; they answer errors that errors.Is maps to the callback
// package's (ErrNotFound, ErrFinal, ErrInProgress) and errors.As to the
// httpx.Problem the API answers.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/availability"
	"github.com/ringback/ringback/libs/consistency"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/httpx"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/intake/callback"
)

// refusal is a domain refusal as the API answers it.
type refusal struct {
	cause   error
	problem *httpx.Problem
}

func (r *refusal) Error() string   { return r.problem.Error() }
func (r *refusal) Unwrap() []error { return []error{r.cause, r.problem} }

func refused(cause error, p *httpx.Problem) error { return &refusal{cause: cause, problem: p} }

// stateWord is a state as the API spells it, in lower case for sentences.
func stateWord(st callback.State) string {
	return strings.ToLower(strings.TrimPrefix(st.Status.String(), "CALLBACK_STATE_"))
}

// Callback is the callback id as its stream says now.
func (s *Service) Callback(ctx context.Context, id string) (callback.State, error) {
	return s.load(ctx, id)
}

func (s *Service) load(ctx context.Context, id string) (callback.State, error) {
	if _, err := uuid.Parse(id); err != nil {
		return callback.State{}, refused(callback.ErrNotFound, notFound(id))
	}
	l, err := eventstore.Load(ctx, s.deps.Store, callback.Stream(id), aggregate)
	if err != nil {
		return callback.State{}, err
	}
	if !l.State.Exists {
		return callback.State{}, refused(callback.ErrNotFound, notFound(id))
	}
	return l.State, nil
}

// RescheduleCallback asks for callback id at desired instead, on behalf
// of by (an API client's or supervisor's id; "" for the visitor), saying
// why. A wish the create would refuse is refused alike (400 naming
// desired_time, or 409 with the nearest free slots) and nothing is
// written. The answer shows it SCHEDULED for the wish at once; the
// scheduler then fixes the due time within office hours and the calling
// window, and the callback's moves say so.
//
// A callback that has fallen due is being offered to agents: the router
// decides between the move and an agent accepting it, and the answer
// waits for that decision (settleMove). An agent who won is a 409 that
// says so, the callback IN_PROGRESS; a decision that has not come back
// within --intake.move-wait is ErrMovePending, with the state so far.
func (s *Service) RescheduleCallback(ctx context.Context, id string, desired time.Time, by, reason string) (callback.State, error) {
	out, err := s.rescheduleCallback(ctx, id, desired, by, reason)
	return out.State, err
}

// ErrMovePending: a move of a callback being routed was recorded, but the
// router's decision between it and an agent accepting had not come back
// within --intake.move-wait (HTTP 202). The callback's state says the
// outcome later: IN_PROGRESS if an agent took it, else the new time.
var ErrMovePending = errors.New("the move is recorded; whether it came before an agent accepting the callback is not known yet")

// rescheduleCallback is RescheduleCallback with the store position of its
// write, for the API's consistency token. Refused, its State is the
// callback as loaded.
func (s *Service) rescheduleCallback(ctx context.Context, id string, desired time.Time, by, reason string) (eventstore.Outcome[callback.State], error) {
	out, err := s.recordMove(ctx, id, desired, by, reason)
	if err != nil || !out.State.MoveAsked {
		// A retried PUT of a move still pending (no new event) waits for
		// the same decision.
		return out, err
	}
	st, settled, err := s.settleMove(ctx, id, out.State)
	if err != nil {
		return out, err
	}
	out.State = st
	switch {
	case !settled:
		return out, ErrMovePending
	case st.Status == callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS:
		return out, refused(callback.ErrInProgress,
			httpx.Conflict("an agent took this callback as it was being moved: they are calling now, at the time it had"))
	}
	return out, nil
}

// moveStatus is the HTTP status of a move's outcome: 202 while the router
// has not decided (ErrMovePending), else 200, or the refusal.
func moveStatus(err error) (int, error) {
	if errors.Is(err, ErrMovePending) {
		return http.StatusAccepted, nil
	}
	return http.StatusOK, err
}

// settleMove waits until the callback's stream says what the router
// decided of a move asked while it was being routed (State.MoveAsked):
// the scheduler's new due time, or an agent's accept. It reads the store,
// so it sees a decision whichever replica's inbox recorded it. Not
// settled within the wait, or with the client gone, it answers the state
// so far: at least recorded, the state the move itself left (a wait that
// ends inside the first read must not answer an empty callback, which
// says no move is pending).
func (s *Service) settleMove(ctx context.Context, id string, recorded callback.State) (callback.State, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.moveWait())
	defer cancel()
	tick := time.NewTicker(movePoll)
	defer tick.Stop()
	st := recorded
	for {
		l, err := eventstore.Load(ctx, s.deps.Store, callback.Stream(id), aggregate)
		switch {
		case ctx.Err() != nil:
			return st, false, nil
		case err != nil:
			return st, false, err
		}
		if st = l.State; !st.MoveAsked {
			return st, true, nil
		}
		select {
		case <-ctx.Done():
			return st, false, nil
		case <-tick.C:
		}
	}
}

// movePoll: a stream read every 20 ms for the few seconds of a move's
// wait, the cost of which is nothing beside the human click it answers.
const movePoll = 20 * time.Millisecond

// recordMove decides and appends the move.
func (s *Service) recordMove(ctx context.Context, id string, desired time.Time, by, reason string) (eventstore.Outcome[callback.State], error) {
	st, err := s.load(ctx, id)
	refuse := func(err error) (eventstore.Outcome[callback.State], error) {
		return eventstore.Outcome[callback.State]{State: st}, err
	}
	if err != nil {
		return refuse(err)
	}
	// Refused for its state before its time is looked at: a 409 that says
	// why is more use than a 400 about a time that can never be had.
	now := s.deps.Clock.Now()
	if _, err := callback.Decide(st, callback.Reschedule{DesiredTime: desired, At: now}); err != nil {
		return refuse(s.refusal(st, err, "rescheduled"))
	}
	svc := s.cfg.ServiceSet.Of(st.Request.GetService())
	var fe *callback.FieldError
	if err := callback.CheckDesired(desired, now, svc.BookAhead); errors.As(err, &fe) {
		return refuse(httpx.BadField(fe.Field, fe.Reason))
	}
	if !s.sameSlot(st, desired) {
		wish := proto.CloneOf(st.Request)
		wish.DesiredTime = timestamppb.New(desired)
		if err := s.checkSlot(ctx, id, false, wish, now); err != nil {
			return refuse(err)
		}
	}
	out, err := s.execute(ctx, id, eventstore.Cause{ID: uuid.NewString(), Correlation: id},
		callback.Reschedule{DesiredTime: desired, At: now, By: by, Reason: reason})
	if err != nil {
		return out, s.refusal(out.State, err, "rescheduled")
	}
	return out, nil
}

// sameSlot says whether a scheduled callback's new wish falls in the
// capacity bucket it holds a place in already: it needs no other.
func (s *Service) sameSlot(st callback.State, desired time.Time) bool {
	svc := s.cfg.ServiceSet.Of(st.Request.GetService())
	c := svc.Capacity
	if c == nil || c.Bucket <= 0 || st.Status != callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED || st.ScheduledFor.IsZero() {
		return false
	}
	loc := svc.Hours.Location()
	return availability.BucketStart(st.ScheduledFor, loc, c.Bucket).Equal(availability.BucketStart(desired, loc, c.Bucket))
}

// CancelCallback withdraws callback id and frees its number. A callback
// already ended is refused (ErrFinal), its number freed all the same, in
// case an earlier release was lost.
func (s *Service) CancelCallback(ctx context.Context, id string, cmd callback.Cancel) (callback.State, error) {
	out, err := s.cancelCallback(ctx, id, cmd)
	return out.State, err
}

// cancelCallback is CancelCallback with the store position of its write,
// for the API's consistency token.
func (s *Service) cancelCallback(ctx context.Context, id string, cmd callback.Cancel) (eventstore.Outcome[callback.State], error) {
	if _, err := s.load(ctx, id); err != nil {
		return eventstore.Outcome[callback.State]{}, err
	}
	out, err := s.execute(ctx, id, eventstore.Cause{ID: uuid.NewString(), Correlation: id}, cmd)
	if errors.Is(err, callback.ErrInProgress) || errors.Is(err, callback.ErrNoReason) {
		// Nothing changed: the number stays held by the live callback.
		return out, s.refusal(out.State, err, "cancelled")
	}
	if err != nil && !errors.Is(err, callback.ErrFinal) {
		return out, err
	}
	// Free the number before answering, so that a new request right after
	// finds it free; after ErrFinal too, in case an earlier release was lost.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if rerr := s.release(wctx, out.State, cmd.Reason); rerr != nil {
		return out, rerr
	}
	if err != nil {
		return out, s.refusal(out.State, err, "cancelled")
	}
	return out, nil
}

// refusal is the API's answer to a command the callback's state refuses.
func (s *Service) refusal(st callback.State, err error, done string) error {
	switch {
	case errors.Is(err, callback.ErrNotFound):
		return refused(err, notFound(st.ID))
	case errors.Is(err, callback.ErrFinal):
		return refused(err, httpx.Conflict("the callback is already "+stateWord(st)))
	case errors.Is(err, callback.ErrInProgress):
		return refused(err, httpx.Conflict("the callback is being handled by an agent; it can no longer be "+done))
	case errors.Is(err, callback.ErrNoReason):
		return refused(err, httpx.BadField("reason", "is required for a supervisor to end a callback"))
	}
	return err
}

// rescheduleRequest is the body of PUT and PATCH /v1/callbacks/{id}
// (api/openapi.yaml): the time is the one thing a callback's owner may
// change; everything else was what the visitor asked for.
type rescheduleRequest struct {
	DesiredTime string `json:"desired_time"`
}

func (s *Service) reschedule(w http.ResponseWriter, r *http.Request) error {
	var req rescheduleRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.DesiredTime == "" {
		return httpx.BadField("desired_time", "is required")
	}
	desired, err := httpx.ParseTime("desired_time", req.DesiredTime)
	if err != nil {
		return err
	}
	who := agentauth.Who(r.Context())
	reason := "rescheduled through the API"
	switch {
	case who.Has(agentauth.RoleSupervisor):
		reason = "rescheduled by supervisor " + who.ID
	case who.Has(agentauth.RoleClient):
		reason = "rescheduled by the API client " + who.ID
	}
	out, err := s.rescheduleCallback(r.Context(), r.PathValue("id"), desired, who.ID, reason)
	status, err := moveStatus(err)
	if err != nil {
		return err
	}
	consistency.Set(w, out.Position)
	httpx.WriteJSON(w, status, s.show(r, out.State))
	return nil
}

// reassign is a supervisor giving a callback to a chosen agent (issue 14):
// a reschedule to now that falls due as that agent's personal callback
// (the router keeps it for them for the service's personal_wait), recorded
// with who and why. It takes no capacity place: the callback is due now,
// and a supervisor's choice is not a visitor's booking.
func (s *Service) reassign(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Agent string `json:"agent"`
		Why   string `json:"why"`
	}
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	switch {
	case !reassignAgent.MatchString(req.Agent):
		return httpx.BadField("agent", "must be an agent's id: 1 to 64 letters, digits, dots, dashes or underscores")
	case s.agents != nil && s.agents.Get(req.Agent) == nil:
		return httpx.BadField("agent", "no such agent in the agents file")
	case strings.TrimSpace(req.Why) == "":
		return httpx.BadField("why", "say why: it is kept with who did it")
	case len(req.Why) > 200:
		return httpx.BadField("why", "must be at most 200 bytes")
	}
	id := r.PathValue("id")
	st, err := s.load(r.Context(), id)
	if err != nil {
		return err
	}
	who := agentauth.Who(r.Context())
	now := s.deps.Clock.Now()
	cmd := callback.Reschedule{DesiredTime: now, At: now, By: who.ID, Agent: req.Agent,
		Reason: fmt.Sprintf("reassigned by supervisor %s to agent %s: %s", who.ID, req.Agent, req.Why)}
	if _, err := callback.Decide(st, cmd); err != nil {
		return s.refusal(st, err, "reassigned")
	}
	out, err := s.execute(r.Context(), id, eventstore.Cause{ID: uuid.NewString(), Correlation: id}, cmd)
	if err != nil {
		return s.refusal(out.State, err, "reassigned")
	}
	consistency.Set(w, out.Position)
	httpx.WriteJSON(w, http.StatusOK, s.show(r, out.State))
	return nil
}

var reassignAgent = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
