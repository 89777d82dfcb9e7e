// Package offer is the pure domain of one interaction as the router owns it:
// stream router-interaction-<id>. An interaction is queued when its callback
// falls due, offered to one agent at a time, and ends accepted (the agent
// works it until Done) or closed. No I/O, no clock: time comes in commands.
// It must not import anything that does I/O.
package offer

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/streams"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

// StreamPrefix starts the name of every interaction stream.
const StreamPrefix = streams.RouterInteraction

// Stream names the stream of an interaction.
func Stream(interactionID string) string { return StreamPrefix + interactionID }

// Status is where an interaction stands in the router.
type Status int

// Statuses, in the order an interaction normally passes them.
const (
	None     Status = iota // never queued
	Waiting                // in the queue, nobody holds an offer
	Offered                // one agent holds the current offer
	Accepted               // the agent took it; the router's part is over until it closes
	Closed                 // done or cancelled; final
)

var statusNames = [...]string{"none", "waiting", "offered", "accepted", "closed"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// Offer is the offer an agent holds.
type Offer struct {
	ID        string
	Agent     string
	OfferedAt time.Time
	ExpiresAt time.Time
}

// State is an interaction as folded from its stream.
type State struct {
	ID           string
	CallbackID   string
	Request      *callbackv1.CallbackRequest
	QueuedAt     time.Time
	ScheduledFor time.Time
	Status       Status
	// Attempts counts the offers made, so the next offer's id is fresh and
	// deterministic: a dispatcher that crashes after writing an offer and
	// retries derives the same id and the store drops the duplicate.
	Attempts int
	Offer    Offer // the current offer while Offered; the accepted one once Accepted
	// CallAttempts are the calls made to the contact before this interaction.
	CallAttempts int
	// Reserve: kept for one agent while waiting, until released.
	Reserve Reservation
	// Passed are the agents who rejected it or let their offer time out: the
	// router tries somebody else first.
	Passed []string
}

// HasPassed says whether agent already rejected or let an offer time out.
func (s State) HasPassed(agent string) bool {
	for _, a := range s.Passed {
		if a == agent {
			return true
		}
	}
	return false
}

// OfferID is the id of the n-th offer of an interaction.
func OfferID(interactionID string, n int) string { return fmt.Sprintf("%s:%d", interactionID, n) }

// Commands.
type (
	// Queue puts a due callback's interaction in the queue.
	Queue struct {
		InteractionID string
		CallbackID    string
		Request       *callbackv1.CallbackRequest
		ScheduledFor  time.Time
		At            time.Time
		// FirstDue is when the callback first fell due: it keeps its
		// place and its aging across retries and reschedules.
		FirstDue time.Time
		// CallAttempts are the calls made to the contact before.
		CallAttempts int
		// Reserve keeps the interaction for one agent for a while (a
		// personal callback, a preferred agent); the zero Reservation none.
		Reserve Reservation
	}
	// Make offers the waiting interaction to Agent until At+Timeout.
	Make struct {
		Agent   string
		At      time.Time
		Timeout time.Duration
	}
	// Accept is the agent taking the offer OfferID.
	Accept struct {
		Agent   string
		OfferID string
		At      time.Time
	}
	// Reject is the agent declining the offer OfferID.
	Reject struct {
		Agent   string
		OfferID string
		At      time.Time
	}
	// Expire ends offer OfferID if it has run out by At.
	Expire struct {
		OfferID string
		At      time.Time
	}
	// Close ends the interaction: the agent is done, or the callback was
	// cancelled. OnlyUnaccepted leaves an interaction an agent already took
	// alone (a cancel cannot pull a call out of an agent's hands).
	Close struct {
		At             time.Time
		Reason         string
		OnlyUnaccepted bool
		// WithdrawnFor is the move of the callback that closes it, told
		// on to the scheduler only when it did (InteractionClosed).
		WithdrawnFor *callbackv1.CallbackRescheduleRequested
	}
	// Release ends the reservation of a waiting interaction: any agent may
	// have it now.
	Release struct {
		At time.Time
	}
)

// Reservation keeps a waiting interaction for one agent until a time.
type Reservation struct {
	Agent string
	Until time.Time
	Why   string // personal or preferred
}

// Reserved says whether the interaction is kept for one agent.
func (s State) Reserved() bool { return s.Reserve.Agent != "" }

// Errors of Decide.
var (
	ErrNotWaiting = errors.New("interaction is not waiting in the queue")
	ErrNoAgent    = errors.New("offer needs an agent")
	ErrNoTimeout  = errors.New("offer needs a positive timeout")
	ErrNoID       = errors.New("interaction needs an id")
)

// Decide turns a command into events, or refuses it. A command that no
// longer applies (an accept for an offer that is gone, a second queueing)
// yields no events and no error: the bus redelivers and races, and that is
// not a fault.
func Decide(s State, c Command) ([]proto.Message, error) {
	switch c := c.(type) {
	case Queue:
		if c.InteractionID == "" {
			return nil, ErrNoID
		}
		if s.Status != None {
			return nil, nil
		}
		queued := c.At
		if !c.FirstDue.IsZero() && c.FirstDue.Before(queued) {
			queued = c.FirstDue
		}
		e := &routingv1.InteractionQueued{InteractionId: c.InteractionID, CallbackId: c.CallbackID,
			Request: c.Request, QueuedAt: timestamppb.New(queued), Attempts: int32(c.CallAttempts)}
		if r := c.Reserve; r.Agent != "" && r.Until.After(c.At) {
			e.ReservedFor, e.ReservedUntil, e.ReservedWhy = r.Agent, timestamppb.New(r.Until), r.Why
		}
		if !c.ScheduledFor.IsZero() {
			e.ScheduledFor = timestamppb.New(c.ScheduledFor)
		}
		return []proto.Message{e}, nil
	case Make:
		switch {
		case s.Status != Waiting:
			return nil, fmt.Errorf("%w: %s", ErrNotWaiting, s.Status)
		case c.Agent == "":
			return nil, ErrNoAgent
		case c.Timeout <= 0:
			return nil, ErrNoTimeout
		}
		e := &routingv1.InteractionOffered{InteractionId: s.ID, CallbackId: s.CallbackID, AgentId: c.Agent,
			Request: s.Request, OfferedAt: timestamppb.New(c.At), ExpiresAt: timestamppb.New(c.At.Add(c.Timeout)),
			QueuedAt: timestamppb.New(s.QueuedAt), OfferId: OfferID(s.ID, s.Attempts+1), Attempts: int32(s.CallAttempts)}
		if !s.ScheduledFor.IsZero() {
			e.ScheduledFor = timestamppb.New(s.ScheduledFor)
		}
		return []proto.Message{e}, nil
	case Accept:
		if !s.current(c.OfferID, c.Agent) {
			return nil, nil
		}
		if !c.At.Before(s.Offer.ExpiresAt) {
			// Too late by the router's clock, whatever the agent's screen showed.
			return []proto.Message{s.timedOut(c.At)}, nil
		}
		return []proto.Message{&routingv1.OfferAccepted{InteractionId: s.ID, AgentId: c.Agent, OfferId: c.OfferID,
			At: timestamppb.New(c.At), Service: s.Request.GetService()}}, nil
	case Reject:
		if !s.current(c.OfferID, c.Agent) {
			return nil, nil
		}
		return []proto.Message{&routingv1.OfferRejected{InteractionId: s.ID, AgentId: c.Agent, OfferId: c.OfferID,
			At: timestamppb.New(c.At)}}, nil
	case Expire:
		if !s.current(c.OfferID, s.Offer.Agent) || c.At.Before(s.Offer.ExpiresAt) {
			return nil, nil
		}
		return []proto.Message{s.timedOut(c.At)}, nil
	case Release:
		if s.Status != Waiting || !s.Reserved() {
			return nil, nil
		}
		wait := s.Reserve.Until.Sub(s.QueuedAt).Round(time.Second)
		reason := fmt.Sprintf("%s agent %s was not offered it within %s: offered to any agent", s.Reserve.Why, s.Reserve.Agent, wait)
		return []proto.Message{&routingv1.InteractionReleased{InteractionId: s.ID, AgentId: s.Reserve.Agent,
			At: timestamppb.New(c.At), Reason: reason}}, nil
	case Close:
		if s.Status == None || s.Status == Closed || (c.OnlyUnaccepted && s.Status == Accepted) {
			return nil, nil
		}
		return []proto.Message{&routingv1.InteractionClosed{InteractionId: s.ID, At: timestamppb.New(c.At),
			Reason: c.Reason, WithdrawnFor: c.WithdrawnFor}}, nil
	}
	return nil, fmt.Errorf("offer: unknown command %T", c)
}

// current says whether offerID is the offer agent holds right now.
func (s State) current(offerID, agent string) bool {
	return s.Status == Offered && offerID == s.Offer.ID && agent == s.Offer.Agent
}

func (s State) timedOut(at time.Time) *routingv1.OfferTimedOut {
	return &routingv1.OfferTimedOut{InteractionId: s.ID, AgentId: s.Offer.Agent, OfferId: s.Offer.ID,
		At: timestamppb.New(at)}
}

// Evolve applies one event. It never fails and ignores unknown events.
func Evolve(s State, e proto.Message) State {
	switch e := e.(type) {
	case *routingv1.InteractionQueued:
		s.ID, s.CallbackID, s.Request, s.Status = e.InteractionId, e.CallbackId, e.Request, Waiting
		s.QueuedAt, s.CallAttempts = e.QueuedAt.AsTime(), int(e.Attempts)
		if e.ReservedFor != "" {
			s.Reserve = Reservation{Agent: e.ReservedFor, Until: e.ReservedUntil.AsTime(), Why: e.ReservedWhy}
		}
		if e.ScheduledFor != nil {
			s.ScheduledFor = e.ScheduledFor.AsTime()
		}
	case *routingv1.InteractionReleased:
		s.Reserve = Reservation{}
	case *routingv1.InteractionOffered:
		s.Status, s.Attempts = Offered, s.Attempts+1
		s.Offer = Offer{ID: e.OfferId, Agent: e.AgentId, OfferedAt: e.OfferedAt.AsTime(), ExpiresAt: e.ExpiresAt.AsTime()}
	case *routingv1.OfferAccepted:
		s.Status = Accepted
	case *routingv1.OfferRejected:
		s = s.backToQueue(e.AgentId)
	case *routingv1.OfferTimedOut:
		s = s.backToQueue(e.AgentId)
	case *routingv1.InteractionClosed:
		s.Status = Closed
	}
	return s
}

func (s State) backToQueue(agent string) State {
	s.Status, s.Offer = Waiting, Offer{}
	if s.Reserve.Agent == agent {
		// The agent it was kept for passed on it: any agent may have it.
		s.Reserve = Reservation{}
	}
	if !s.HasPassed(agent) {
		// A copy: states are values, and folds must not share backing arrays.
		s.Passed = append(append([]string(nil), s.Passed...), agent)
	}
	return s
}
