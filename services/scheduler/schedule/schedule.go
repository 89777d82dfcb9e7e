// Package schedule is the pure domain of when a callback falls due, as the
// scheduler owns it: stream scheduler-callback-<id>. It fixes the due time
// (the visitor's wish, never in the past, moved into the service's office
// hours) and fires the callback once when that time comes. No I/O, no clock:
// time and configuration come in commands. It must not import a service.
package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/callwindow"
	"github.com/ringback/ringback/libs/streams"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// StreamPrefix starts every stream this package owns.
const StreamPrefix = streams.SchedulerCallback

// Stream names the stream of a callback's schedule.
func Stream(callbackID string) string { return StreamPrefix + callbackID }

// Status of a callback's schedule.
type Status int

const (
	Unknown   Status = iota // nothing scheduled yet
	Pending                 // waiting for its due time
	Fired                   // CallbackDue written: the router has it now
	Cancelled               // withdrawn before it fell due; never fires
	Expired                 // its time to live ended before it was connected
)

func (s Status) String() string {
	switch s {
	case Pending:
		return "pending"
	case Fired:
		return "fired"
	case Cancelled:
		return "cancelled"
	case Expired:
		return "expired"
	}
	return "unknown"
}

// State is a callback's schedule as folded from its stream.
type State struct {
	ID      string
	Status  Status
	Request *callbackv1.CallbackRequest
	DueAt   time.Time
	// Fired counts the CallbackDue events written, so that each time the
	// callback falls due (a reschedule after an attempt) gets its own
	// interaction id.
	Fired int
	// Agent accepted the latest interaction: the agent who may read the
	// schedule when agents authenticate (issue 16).
	Agent string
	// AcceptedInteraction is the interaction Agent accepted: while it is
	// the current one, the callback is in an agent's hands and its time to
	// live no longer runs.
	AcceptedInteraction string
	// ExpiresAt ends the time to live; zero: never.
	ExpiresAt time.Time
	// Attempts are the calls made to the contact before the next firing,
	// as the retries counted them.
	Attempts int
	// Interaction is the interaction of the latest firing.
	Interaction string
	// FirstDue is when the callback first fell due: its wait for aging.
	FirstDue time.Time
	// Moves are the reasons of every move of the due time, for the API.
	Moves []string
	// PersonalAgent rescheduled it for themselves: it comes back to them.
	PersonalAgent string
}

// Current is the interaction of the latest firing; "" before the first.
func (s State) Current() string { return s.Interaction }

// Expiring says whether the time to live runs: the callback waits for its
// time or for an agent, not in one's hands and not ended.
func (s State) Expiring() bool {
	if s.ExpiresAt.IsZero() {
		return false
	}
	switch s.Status {
	case Pending:
		return true
	case Fired:
		return s.AcceptedInteraction != s.Current()
	}
	return false
}

// Commands.
type (
	// Schedule fixes the due time of a new request.
	Schedule struct {
		ID      string
		Request *callbackv1.CallbackRequest
		At      time.Time // now
		Hours   Hours     // of the request's service
		// Window is the service's calling window in the contact's local
		// time; the zero Window is none (tests of other rules).
		Window callwindow.Window
		// TTL is the service's time to live from the later of the request
		// and the wished time (ttlFrom); zero: none.
		TTL time.Duration
		// Moved, when set, is the slot the scheduler took instead of the
		// wished one, which was full (issue 11, capacity): the due time
		// is its SlotStart, and the history says why.
		Moved *callbackv1.CapacityMove
	}
	// Fire makes the callback due if its time has come.
	Fire struct {
		At time.Time // now
	}
	// Cancel withdraws a callback that has not fallen due yet.
	Cancel struct {
		ID     string
		At     time.Time
		Reason string
	}
	// Reschedule moves the due time; also after the callback fell due, since
	// an agent may reschedule during or after the interaction (DESIGN.md §1.8).
	Reschedule struct {
		DueAt  time.Time // wished time; zero means as soon as possible
		At     time.Time // now
		Hours  Hours
		Window callwindow.Window
		Reason string
		// Personal: the agent who asked it back for themselves; "" for the
		// queue.
		Personal string
		// Contact: asked by the contact or an API client, who may move a
		// callback only before an agent takes it (ErrAccepted); an agent
		// moves it during or after their call.
		Contact bool
		// Moved: the new time's slot was full, so it takes this one's
		// start instead (the scheduler's book.go chose it).
		Moved *callbackv1.CapacityMove
		// TTL is the service's time to live: a callback moved past the end
		// of its own lives that long past its new time. Zero: unchanged.
		TTL time.Duration
		// Withdrawn is the interaction the router withdrew for a contact's
		// move (MoveOf); "" for the move as asked.
		Withdrawn string
	}
	// NoteAccepted records the agent who accepted the callback's interaction.
	NoteAccepted struct {
		InteractionID string
		Agent         string
		At            time.Time
	}
)

// Errors of Decide.
var (
	ErrNoID         = errors.New("callback id is empty")
	ErrNotScheduled = errors.New("callback is not scheduled")
	ErrCancelled    = errors.New("callback is cancelled")
	// ErrAccepted: an agent took the callback's current interaction
	// before the contact's reschedule arrived; the call goes on.
	ErrAccepted = errors.New("callback is in an agent's hands")
)

// MoveStep is what a contact's move (or a supervisor's reassign) of a
// callback does now.
type MoveStep int

const (
	// MoveIgnored: a withdrawal told on for an interaction that is not the
	// callback's current one (a redelivery, a late router), or for a
	// callback not due (the move applied as asked).
	MoveIgnored MoveStep = iota
	// MoveNow: the scheduler moves it, before the callback falls due, or
	// once the router withdrew its current interaction for the move.
	MoveNow
	// MoveAsksRouter: the callback has fallen due, so its interaction is
	// the router's, which decides between the move and an agent's accept
	// on that interaction's stream (CallbackMoveAsked). Applied as asked,
	// a move that raced an accept had the callback called now by that
	// agent and again at the new time.
	MoveAsksRouter
)

// MoveOf is what a move does to s now; withdrawn is the interaction the
// router withdrew for it, "" for the move as asked.
func MoveOf(s State, withdrawn string) MoveStep {
	switch {
	case s.Status == Fired && withdrawn == "":
		return MoveAsksRouter
	case s.Status == Fired && withdrawn == s.Current():
		return MoveNow
	case s.Status != Fired && withdrawn == "":
		return MoveNow
	}
	return MoveIgnored
}

// askRouter is the CallbackMoveAsked of move c of a due callback: the move
// as the scheduler will apply it when the router tells it on.
func (s State) askRouter(c Reschedule) *callbackv1.CallbackMoveAsked {
	m := &callbackv1.CallbackRescheduleRequested{CallbackId: s.ID, At: timestamppb.New(c.At), Reason: c.Reason,
		PersonalAgent: c.Personal}
	if !c.DueAt.IsZero() {
		m.DesiredTime = timestamppb.New(c.DueAt)
	}
	return &callbackv1.CallbackMoveAsked{CallbackId: s.ID, InteractionId: s.Current(), Move: m, At: timestamppb.New(c.At)}
}

// DueTime is when a callback wished for at desired (zero: as soon as
// possible) and scheduled at now falls due: never in the past, and inside
// the service's office hours.
func DueTime(desired, now time.Time, h Hours) time.Time {
	due := now
	if desired.After(now) {
		due = desired
	}
	return h.Next(due)
}

// DueTimeIn is DueTime kept also inside the calling window w in the
// contact's local time (both must hold: office hours and window). The move
// is non-nil when the window moved the due time, with the reason for the
// history.
func DueTimeIn(desired, now time.Time, h Hours, w callwindow.Window, r *callbackv1.CallbackRequest) (time.Time, *callbackv1.WindowMove) {
	due := DueTime(desired, now, h)
	if w == (callwindow.Window{}) || w.AlwaysOpen() {
		return due, nil
	}
	zones := callwindow.Zones(r.GetPhoneNumber(), r.GetTimezone(), h.Loc)
	at, shared := due, true
	// Alternate the two calendars until an instant satisfies both; each
	// step only moves forward, and a week of openings settles any pair.
	for range 64 {
		next, ok := callwindow.NextOpening(at, zones, w)
		if !ok {
			// Zones that never share an opening (a narrow window over a
			// wide country): keep the window of the first one.
			zones, shared = zones[:1], false
			next, _ = callwindow.NextOpening(at, zones, w)
		}
		open := h.Next(next)
		if open.Equal(next) {
			at = next
			break
		}
		at = open
	}
	if at.Equal(due) {
		return due, nil
	}
	names := make([]string, len(zones))
	local := make([]string, len(zones))
	for i, z := range zones {
		names[i] = z.String()
		local[i] = at.In(z).Format("15:04") + " " + z.String()
		if !sameDay(at.In(z), due.In(z)) {
			local[i] = at.In(z).Format("Mon 2 Jan 15:04") + " " + z.String()
		}
	}
	reason := "moved to " + strings.Join(local, ", ") + ": outside the calling window " + w.String()
	if !shared {
		reason += " (the number's zones share no opening; kept to the first)"
	}
	return at, &callbackv1.WindowMove{From: timestamppb.New(due), Zones: names, Window: w.String(), Reason: reason}
}

func sameDay(a, b time.Time) bool {
	return a.Year() == b.Year() && a.YearDay() == b.YearDay()
}

// interactionNamespace roots the interaction ids (UUID v5).
var interactionNamespace = uuid.MustParse("b3a4f1d2-6c0e-4f7a-9d51-2e8c7a90c4e3")

// InteractionID is the id of the interaction opened the n-th time (from 0)
// a callback falls due. Deterministic, so a redelivered or retried firing
// names the same interaction.
func InteractionID(callbackID string, n int) string {
	return uuid.NewSHA1(interactionNamespace, []byte(callbackID+"/due/"+strconv.Itoa(n))).String()
}

// Decide turns a command into events, or refuses it.
func Decide(s State, c Command) ([]proto.Message, error) {
	switch c := c.(type) {
	case Schedule:
		if c.ID == "" {
			return nil, ErrNoID
		}
		// Already scheduled, or cancelled before the request reached us.
		if s.Status != Unknown {
			return nil, nil
		}
		var desired time.Time // zero: as soon as possible
		if d := c.Request.GetDesiredTime(); d != nil {
			desired = d.AsTime()
		}
		due, moved := DueTimeIn(desired, c.At, c.Hours, c.Window, c.Request)
		if c.Moved != nil {
			due = c.Moved.SlotStart.AsTime()
		}
		sched := &callbackv1.CallbackScheduled{CallbackId: c.ID, Request: c.Request, DueAt: timestamppb.New(due),
			MovedByWindow: moved, MovedByCapacity: c.Moved}
		if c.TTL > 0 {
			sched.ExpiresAt = timestamppb.New(ttlFrom(c.Request.GetRequestedAt(), c.At, desired).Add(c.TTL))
		}
		out := []proto.Message{sched}
		// Due already: say so in the same append, so the router gets an
		// ASAP callback without waiting for a timer.
		if !due.After(c.At) {
			out = append(out, s.due(c.ID, c.Request, due))
		}
		return out, nil
	case Fire:
		if s.Status != Pending || c.At.Before(s.DueAt) {
			return nil, nil
		}
		return []proto.Message{s.due(s.ID, s.Request, s.DueAt)}, nil
	case Cancel:
		if s.Status == Fired || s.Status == Cancelled || s.Status == Expired {
			return nil, nil // the router owns a fired callback's cancellation
		}
		id := s.ID
		if id == "" {
			id = c.ID
		}
		if id == "" {
			return nil, ErrNoID
		}
		return []proto.Message{&callbackv1.CallbackUnscheduled{CallbackId: id, At: timestamppb.New(c.At), Reason: c.Reason}}, nil
	case Retry, Expire:
		return s.decideLife(c)
	case Reschedule:
		switch s.Status {
		case Unknown:
			return nil, ErrNotScheduled
		case Cancelled, Expired:
			return nil, ErrCancelled
		}
		if c.Contact && s.Status == Fired && s.AcceptedInteraction != "" && s.AcceptedInteraction == s.Current() {
			return nil, ErrAccepted
		}
		if c.Contact {
			switch MoveOf(s, c.Withdrawn) {
			case MoveIgnored:
				return nil, nil
			case MoveAsksRouter:
				return []proto.Message{s.askRouter(c)}, nil
			}
		}
		due, moved := DueTimeIn(c.DueAt, c.At, c.Hours, c.Window, s.Request)
		if c.Moved != nil {
			due = c.Moved.SlotStart.AsTime()
		}
		if s.Status == Pending && due.Equal(s.DueAt) && c.Personal == s.PersonalAgent {
			return nil, nil
		}
		expires := s.expiresAt()
		if c.TTL > 0 && expires != nil {
			// Moved later than its time to live allowed: it lives that long
			// past its new time, never less than it had.
			if later := due.Add(c.TTL); later.After(s.ExpiresAt) {
				expires = timestamppb.New(later)
			}
		}
		out := []proto.Message{&callbackv1.CallbackRescheduled{CallbackId: s.ID, DueAt: timestamppb.New(due), Reason: c.Reason,
			MovedByWindow: moved, ExpiresAt: expires, PersonalAgent: c.Personal, MovedByCapacity: c.Moved}}
		if !due.After(c.At) {
			// Due at once: its firing is for whom the reschedule says (a
			// supervisor's reassign, issue 14), not for whom it was.
			d := s.due(s.ID, s.Request, due)
			d.PersonalAgent = c.Personal
			out = append(out, d)
		}
		return out, nil
	case NoteAccepted:
		if s.Status == Unknown || c.Agent == "" || (c.Agent == s.Agent && c.InteractionID == s.AcceptedInteraction) {
			return nil, nil
		}
		return []proto.Message{&callbackv1.CallbackAccepted{CallbackId: s.ID, InteractionId: c.InteractionID,
			AgentId: c.Agent, At: timestamppb.New(c.At)}}, nil
	}
	return nil, fmt.Errorf("schedule: unknown command %T", c)
}

// due is the CallbackDue of the next firing.
func (s State) due(id string, r *callbackv1.CallbackRequest, at time.Time) *callbackv1.CallbackDue {
	first := s.FirstDue
	if first.IsZero() {
		first = at
	}
	return &callbackv1.CallbackDue{CallbackId: id, Request: r, DueAt: timestamppb.New(at),
		InteractionId: InteractionID(id, s.Fired), Attempts: int32(s.Attempts), FirstDueAt: timestamppb.New(first),
		PersonalAgent: s.PersonalAgent}
}

// Evolve applies one event. It never fails and ignores unknown events.
func Evolve(s State, e proto.Message) State {
	switch e := e.(type) {
	case *callbackv1.CallbackScheduled:
		s.ID, s.Request, s.Status, s.DueAt = e.CallbackId, e.Request, Pending, e.DueAt.AsTime()
		if e.ExpiresAt != nil {
			s.ExpiresAt = e.ExpiresAt.AsTime()
		}
		if m := e.MovedByCapacity; m != nil {
			s.Moves = append(s.Moves, m.Reason)
		}
		if m := e.MovedByWindow; m != nil {
			s.Moves = append(s.Moves, m.Reason)
		}
	case *callbackv1.CallbackRescheduled:
		s.Status, s.DueAt = Pending, e.DueAt.AsTime()
		if s.ID == "" {
			s.ID = e.CallbackId
		}
		if e.ExpiresAt != nil {
			s.ExpiresAt = e.ExpiresAt.AsTime()
		}
		s.PersonalAgent = e.PersonalAgent
		if r := e.Retry; r != nil && int(r.Attempt)-1 > s.Attempts {
			s.Attempts = int(r.Attempt) - 1
		}
		if e.Reason != "" {
			s.Moves = append(s.Moves, e.Reason)
		}
		if m := e.MovedByCapacity; m != nil {
			s.Moves = append(s.Moves, m.Reason)
		}
		if m := e.MovedByWindow; m != nil {
			s.Moves = append(s.Moves, m.Reason)
		}
	case *callbackv1.CallbackDue:
		s.Status, s.DueAt, s.Interaction = Fired, e.DueAt.AsTime(), e.InteractionId
		if s.FirstDue.IsZero() {
			s.FirstDue = s.DueAt
		}
		s.Fired++
	case *callbackv1.CallbackExpired:
		s.Status = Expired
		if s.ID == "" {
			s.ID = e.CallbackId
		}
	case *callbackv1.CallbackAccepted:
		s.Agent, s.AcceptedInteraction = e.AgentId, e.InteractionId
	case *callbackv1.CallbackUnscheduled:
		s.Status = Cancelled
		if s.ID == "" {
			s.ID = e.CallbackId
		}
	}
	return s
}

// ttlFrom is where a time to live starts: the later of the request and
// the wished time, so a callback booked days ahead (book_ahead) is not
// over before it is due; it counts from when the contact expects the call.
func ttlFrom(requested *timestamppb.Timestamp, now, desired time.Time) time.Time {
	from := now
	if requested != nil {
		from = requested.AsTime()
	}
	if desired.After(from) {
		from = desired
	}
	return from
}

// expiresAt is the time to live's end for an event, nil when none.
func (s State) expiresAt() *timestamppb.Timestamp {
	if s.ExpiresAt.IsZero() {
		return nil
	}
	return timestamppb.New(s.ExpiresAt)
}
