// Package timeline is the pure domain of a callback's history as the history
// service owns it: stream history-callback-<callback id>, the audit trail of
// every event of the callback's life (copied from the bus) and the agents'
// notes. It derives the contact-history summary (state, disposition, notes)
// from that trail. No I/O, no clock: time comes in commands and events.
package timeline

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/streams"
	"github.com/ringback/ringback/proto/catalog"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

// StreamPrefix starts every history stream.
const StreamPrefix = streams.HistoryCallback

// Stream names the history of a callback.
func Stream(callbackID string) string { return StreamPrefix + callbackID }

// Status is where a callback stands, as the contact history shows it.
type Status int

// Statuses in the order a callback normally goes through them. Requested is
// the zero value: a callback with any history was requested.
const (
	Requested Status = iota
	Scheduled
	Queued
	Offered
	InProgress
	Completed
	Cancelled
)

var statusNames = [...]string{"REQUESTED", "SCHEDULED", "QUEUED", "OFFERED", "IN_PROGRESS", "COMPLETED", "CANCELLED"}

func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return fmt.Sprintf("Status(%d)", int(s))
	}
	return statusNames[s]
}

// Final says the callback is over: nothing moves it any more.
func (s Status) Final() bool { return s == Completed || s == Cancelled }

// Live says the callback is an interaction in progress: routed and not over.
// A scheduled callback is a promise, not yet an interaction.
func (s Status) Live() bool { return s == Queued || s == Offered || s == InProgress }

// Note is an agent's note on an interaction.
type Note struct {
	InteractionID string
	AgentID       string
	Text          string
	At            time.Time
}

// State is a callback's history folded from its stream. Evolve may reuse the
// slices of the state it is given: keep only the returned state.
type State struct {
	CallbackID    string
	Exists        bool
	InteractionID string   // the latest interaction of the callback
	Interactions  []string // every interaction, in the order learned
	PhoneNumber   string
	Service       string
	Subject       string
	RequestedAt   time.Time
	LastAt        time.Time // the latest event's time
	Notes         []Note
	CaseData      map[string]string // as the visitor sent it, then as agents edited it
	Agent         string            // who accepted the latest interaction
	// Handlers are the agents any interaction of the callback was offered
	// to or accepted by: who may read its trail and its contact's history
	// when agents authenticate (issue 16).
	Handlers []string

	// marks are the status-changing facts. The bus orders events within a
	// topic only, so history receives a callback's facts out of order; the
	// status is the fold of the marks in the order they occurred.
	marks []mark
	// caseEdited: an agent's edit wins over the request seen later (the
	// bus does not order topics).
	caseEdited bool
}

type effect int

const (
	effectNone        effect = iota
	effectTo                 // move to mark.to
	effectBackToQueue        // an offer that failed returns the callback to its queue
	effectDisposition        // the disposition code changed
)

type mark struct {
	at     time.Time
	seq    int // recording order breaks ties of at
	effect effect
	to     Status
	code   string
}

// Outcome is what the marks add up to.
type Outcome struct {
	Status      Status
	Disposition string
	EndedAt     time.Time // when the callback reached a final status
}

// Outcome folds the status-changing facts in the order they occurred.
func (s State) Outcome() Outcome {
	var o Outcome
	for _, m := range s.marks { // in the order they occurred (insertMark)
		switch m.effect {
		case effectDisposition:
			// The code set at Done is final; a late DispositionSet is not.
			if !o.Status.Final() || o.Disposition == "" {
				o.Disposition = m.code
			}
		case effectBackToQueue:
			if o.Status == Offered {
				o.Status = Queued
			}
		case effectTo:
			if o.Status.Final() {
				continue
			}
			o.Status = m.to
			if m.to.Final() {
				o.EndedAt = m.at
				if m.code != "" {
					o.Disposition = m.code
				}
			}
		}
	}
	return o
}

// Commands.
type (
	// Record copies an event of the callback's life into its history.
	Record struct {
		CallbackID    string
		InteractionID string
		EventID       string
		EventType     string // fully-qualified protobuf name
		Source        string // the stream that recorded it
		OccurredAt    time.Time
		Data          []byte // protobuf binary of EventType
		PhoneNumber   string
		Indexed       bool // its index entries are written (history's index.go)
	}
	// AddNote adds an agent's note to an interaction.
	AddNote struct {
		InteractionID string
		AgentID       string
		Text          string
		At            time.Time
	}
	// EditCaseData replaces the case information an agent edited.
	EditCaseData struct {
		InteractionID string
		AgentID       string
		CaseData      map[string]string
		At            time.Time
	}
)

// Limits of a note: a few paragraphs, small enough to keep in memory.
const (
	MaxNote    = 4000
	MaxAgentID = 128
)

// ErrNotFound is a note for a callback history has never seen.
var ErrNotFound = errors.New("interaction not found")

// FieldError names the command field at fault.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// ValidateNote checks a note's author and text.
func ValidateNote(agentID, text string) error {
	switch {
	case agentID == "":
		return &FieldError{"agent_id", "is required"}
	case len(agentID) > MaxAgentID || !utf8.ValidString(agentID):
		return &FieldError{"agent_id", fmt.Sprintf("must be text of at most %d bytes", MaxAgentID)}
	case text == "":
		return &FieldError{"text", "is required"}
	case len(text) > MaxNote || !utf8.ValidString(text):
		return &FieldError{"text", fmt.Sprintf("must be valid text of at most %d bytes", MaxNote)}
	}
	return nil
}

// Limits of case data, as intake's.
const (
	MaxCaseFields = 50
	MaxCaseKey    = 64
	MaxCaseValue  = 2000
)

// ValidateCaseData checks an agent's edit of the case information.
func ValidateCaseData(agentID string, data map[string]string) error {
	if agentID == "" || len(agentID) > MaxAgentID || !utf8.ValidString(agentID) {
		return &FieldError{"agent_id", fmt.Sprintf("is required, text of at most %d bytes", MaxAgentID)}
	}
	if len(data) > MaxCaseFields {
		return &FieldError{"case_data", fmt.Sprintf("must have at most %d fields", MaxCaseFields)}
	}
	for k, v := range data {
		if k == "" || len(k) > MaxCaseKey || !utf8.ValidString(k) {
			return &FieldError{"case_data", fmt.Sprintf("keys must be 1 to %d bytes of text", MaxCaseKey)}
		}
		if len(v) > MaxCaseValue || !utf8.ValidString(v) {
			return &FieldError{"case_data." + k, fmt.Sprintf("must be text of at most %d bytes", MaxCaseValue)}
		}
	}
	return nil
}

// Decide turns a command into events, or refuses it. Redelivery of a Record
// is caught before Decide, by the event id its cause yields.
func Decide(s State, c Command) ([]proto.Message, error) {
	switch c := c.(type) {
	case Record:
		if c.CallbackID == "" || c.EventID == "" || c.EventType == "" {
			return nil, fmt.Errorf("timeline: record needs a callback id, an event id and a type")
		}
		return []proto.Message{&historyv1.InteractionEventRecorded{InteractionId: c.InteractionID,
			CallbackId: c.CallbackID, EventId: c.EventID, EventType: c.EventType, Source: c.Source,
			OccurredAt: timestamppb.New(c.OccurredAt), Data: c.Data, PhoneNumber: c.PhoneNumber, Indexed: c.Indexed}}, nil
	case AddNote:
		if err := ValidateNote(c.AgentID, c.Text); err != nil {
			return nil, err
		}
		if !s.Exists {
			return nil, ErrNotFound
		}
		return []proto.Message{&historyv1.NoteAdded{InteractionId: c.InteractionID, AgentId: c.AgentID,
			Text: c.Text, At: timestamppb.New(c.At)}}, nil
	case EditCaseData:
		if err := ValidateCaseData(c.AgentID, c.CaseData); err != nil {
			return nil, err
		}
		if !s.Exists {
			return nil, ErrNotFound
		}
		if maps.Equal(s.CaseData, c.CaseData) {
			return nil, nil
		}
		return []proto.Message{&historyv1.CaseDataUpdated{InteractionId: c.InteractionID, AgentId: c.AgentID,
			CaseData: c.CaseData, At: timestamppb.New(c.At)}}, nil
	}
	return nil, fmt.Errorf("timeline: unknown command %T", c)
}

// Evolve applies one event. It never fails and ignores unknown events.
func Evolve(s State, e proto.Message) State {
	switch e := e.(type) {
	case *historyv1.InteractionEventRecorded:
		s.Exists, s.CallbackID = true, e.CallbackId
		at := e.OccurredAt.AsTime()
		if at.After(s.LastAt) {
			s.LastAt = at
		}
		s = s.withInteraction(e.InteractionId)
		if e.PhoneNumber != "" {
			s.PhoneNumber = e.PhoneNumber
		}
		inner, err := catalog.Decode(e.EventType, e.Data)
		if err != nil {
			return s // a newer writer's event: kept in the trail, no effect here
		}
		return s.learn(inner, at)
	case *historyv1.NoteAdded:
		s.Notes = append(s.Notes, Note{InteractionID: e.InteractionId, AgentID: e.AgentId, Text: e.Text, At: e.At.AsTime()})
		s = s.withInteraction(e.InteractionId)
	case *historyv1.CaseDataUpdated:
		s.CaseData, s.caseEdited = e.CaseData, true
		s = s.withInteraction(e.InteractionId)
	}
	return s
}

func (s State) withInteraction(id string) State {
	if id == "" || id == s.InteractionID {
		return s
	}
	s.InteractionID = id
	if !slices.Contains(s.Interactions, id) {
		s.Interactions = append(s.Interactions, id)
	}
	return s
}

func (s State) withHandler(agent string) State {
	if agent != "" && !slices.Contains(s.Handlers, agent) {
		s.Handlers = append(s.Handlers, agent)
	}
	return s
}

// HandledBy says whether an interaction of the callback was offered to or
// accepted by agent.
func (s State) HandledBy(agent string) bool { return agent != "" && slices.Contains(s.Handlers, agent) }

// learn folds what an event of another service says about the callback.
func (s State) learn(e proto.Message, at time.Time) State {
	if r := RequestOf(e); r != nil {
		if s.Service == "" {
			s.Service = r.GetService()
		}
		if s.Subject == "" {
			s.Subject = r.GetSubject()
		}
		if s.RequestedAt.IsZero() && r.GetRequestedAt() != nil {
			s.RequestedAt = r.GetRequestedAt().AsTime()
		}
		if !s.caseEdited && s.CaseData == nil {
			s.CaseData = r.GetCaseData()
		}
	}
	switch e := e.(type) {
	case *routingv1.OfferAccepted:
		s.Agent = e.AgentId
		s = s.withHandler(e.AgentId)
	case *agentv1.DraftFiled:
		// What the agent typed and never saved by hand, filed at Done
		// (issue 15): a note and a case edit like those saved here.
		if e.Note != "" {
			s.Notes = append(s.Notes, Note{InteractionID: e.InteractionId, AgentID: e.AgentId, Text: e.Note, At: e.At.AsTime()})
		}
		if e.CaseEdited {
			s.CaseData, s.caseEdited = e.CaseData, true
		}
	case *routingv1.InteractionOffered:
		s = s.withHandler(e.AgentId)
	case *agentv1.InteractionTransferred:
		// The receiving agent handles the interaction now (issue 15): they
		// read its trail and add notes; the first agent still may read
		// what they handled.
		s.Agent = e.ToAgentId
		s = s.withHandler(e.ToAgentId)
	}
	eff, to, code := effectOf(e)
	if eff != effectNone {
		s.marks = insertMark(s.marks, mark{at: at, seq: len(s.marks), effect: eff, to: to, code: code})
	}
	return s
}

// insertMark adds m to marks, kept in the order they occurred (recording
// order breaking ties): a new mark is the latest but for a fact that came
// late, so it goes in from the end, and Outcome folds them without sorting
// a copy for every event.
func insertMark(marks []mark, m mark) []mark {
	i := len(marks)
	for i > 0 && marks[i-1].at.After(m.at) {
		i--
	}
	if i == len(marks) {
		return append(marks, m)
	}
	// Into a new array: a state folded before this one may share the old
	// one, and must keep reading its marks as they were.
	return slices.Insert(slices.Clip(marks), i, m)
}
