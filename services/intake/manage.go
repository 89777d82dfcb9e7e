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
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/availability"
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
func (s *Service) RescheduleCallback(ctx context.Context, id string, desired time.Time, by, reason string) (callback.State, error) {
	st, err := s.load(ctx, id)
	if err != nil {
		return st, err
	}
	// Refused for its state before its time is looked at: a 409 that says
	// why is more use than a 400 about a time that can never be had.
	if _, err := callback.Decide(st, callback.Reschedule{DesiredTime: desired, At: s.deps.Clock.Now()}); err != nil {
		return st, s.refusal(st, err, "rescheduled")
	}
	now := s.deps.Clock.Now()
	svc := s.cfg.ServiceSet.Of(st.Request.GetService())
	var fe *callback.FieldError
	if err := callback.CheckDesired(desired, now, svc.BookAhead); errors.As(err, &fe) {
		return st, httpx.BadField(fe.Field, fe.Reason)
	}
	if !s.sameSlot(st, desired) {
		wish := proto.CloneOf(st.Request)
		wish.DesiredTime = timestamppb.New(desired)
		if err := s.checkSlot(ctx, id, false, wish, now); err != nil {
			return st, err
		}
	}
	out, err := s.execute(ctx, id, eventstore.Cause{ID: uuid.NewString(), Correlation: id},
		callback.Reschedule{DesiredTime: desired, At: now, By: by, Reason: reason})
	if err != nil {
		return out.State, s.refusal(out.State, err, "rescheduled")
	}
	return out.State, nil
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
	if _, err := s.load(ctx, id); err != nil {
		return callback.State{}, err
	}
	out, err := s.execute(ctx, id, eventstore.Cause{ID: uuid.NewString(), Correlation: id}, cmd)
	if errors.Is(err, callback.ErrInProgress) || errors.Is(err, callback.ErrNoReason) {
		// Nothing changed: the number stays held by the live callback.
		return out.State, s.refusal(out.State, err, "cancelled")
	}
	if err != nil && !errors.Is(err, callback.ErrFinal) {
		return out.State, err
	}
	// Free the number before answering, so that a new request right after
	// finds it free; after ErrFinal too, in case an earlier release was lost.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if rerr := s.release(wctx, out.State, cmd.Reason); rerr != nil {
		return out.State, rerr
	}
	if err != nil {
		return out.State, s.refusal(out.State, err, "cancelled")
	}
	return out.State, nil
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
	st, err := s.RescheduleCallback(r.Context(), r.PathValue("id"), desired, who.ID, reason)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, s.show(r, st))
	return nil
}
