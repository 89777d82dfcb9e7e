// Package code is the pure domain of an interaction's disposition as the
// disposition service owns it: stream disposition-interaction-<interaction
// id>, opened when an agent accepts the interaction, set by the agent to a
// code of the catalogue, closed when the agent clicks Done. No I/O, no
// clock: time comes in commands.
package code

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/streams"
	dispositionv1 "github.com/ringback/ringback/proto/ringback/disposition/v1"
)

// StreamPrefix starts every disposition stream.
const StreamPrefix = streams.DispositionInteraction

// Stream names the disposition of an interaction.
func Stream(interactionID string) string { return StreamPrefix + interactionID }

// State is an interaction's disposition folded from its stream.
type State struct {
	InteractionID string
	CallbackID    string
	AgentID       string // the agent who accepted it
	Service       string
	Code          string
	Opened        bool // an agent accepted it
	Closed        bool // the agent clicked Done
}

// Commands.
type (
	// Open makes the interaction qualifiable: an agent accepted it.
	Open struct {
		InteractionID string
		CallbackID    string
		AgentID       string
		Service       string
		At            time.Time
	}
	// Set chooses the code.
	Set struct {
		Code      string
		AgentID   string // empty: the agent who accepted it
		At        time.Time
		Catalogue Catalogue
	}
	// Close fixes the disposition: the agent clicked Done.
	Close struct {
		InteractionID string
		Code          string // the code Done was clicked with, if any
		At            time.Time
	}
)

// Errors of Decide.
var (
	ErrNotFound    = errors.New("interaction not accepted by an agent")
	ErrClosed      = errors.New("interaction is done: its disposition cannot change")
	ErrUnknownCode = errors.New("unknown disposition code")
)

// Decide turns a command into events, or refuses it.
func Decide(s State, c Command) ([]proto.Message, error) {
	switch c := c.(type) {
	case Open:
		// Opened again only when another agent takes the interaction over.
		if s.Opened && (s.AgentID == c.AgentID || s.Closed) {
			return nil, nil
		}
		return []proto.Message{&dispositionv1.DispositionOpened{InteractionId: c.InteractionID, AgentId: c.AgentID,
			Service: c.Service, CallbackId: c.CallbackID, At: timestamppb.New(c.At)}}, nil
	case Set:
		if !c.Catalogue.Has(c.Code) {
			return nil, ErrUnknownCode
		}
		if s.Closed {
			return nil, ErrClosed
		}
		if !s.Opened {
			return nil, ErrNotFound
		}
		agent := c.AgentID
		if agent == "" {
			agent = s.AgentID
		}
		if c.Code == s.Code {
			return nil, nil // a retried PUT
		}
		return []proto.Message{&dispositionv1.DispositionSet{InteractionId: s.InteractionID, AgentId: agent,
			Code: c.Code, At: timestamppb.New(c.At)}}, nil
	case Close:
		if s.Closed {
			return nil, nil
		}
		// Closed even if never opened: Done may be consumed before the
		// accept (topics are read in parallel), and must still win.
		final := c.Code
		if final == "" {
			final = s.Code
		}
		return []proto.Message{&dispositionv1.DispositionClosed{InteractionId: c.InteractionID, Code: final,
			At: timestamppb.New(c.At)}}, nil
	}
	return nil, fmt.Errorf("code: unknown command %T", c)
}

// Evolve applies one event. It never fails and ignores unknown events.
func Evolve(s State, e proto.Message) State {
	switch e := e.(type) {
	case *dispositionv1.DispositionOpened:
		s.Opened, s.InteractionID, s.AgentID = true, e.InteractionId, e.AgentId
		if e.Service != "" {
			s.Service = e.Service
		}
		if e.CallbackId != "" {
			s.CallbackID = e.CallbackId
		}
	case *dispositionv1.DispositionSet:
		s.Code = e.Code
	case *dispositionv1.DispositionClosed:
		s.Closed, s.InteractionID = true, e.InteractionId
		if e.Code != "" {
			s.Code = e.Code
		}
	}
	return s
}
