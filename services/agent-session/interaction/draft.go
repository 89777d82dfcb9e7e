package interaction

import (
	"fmt"
	"maps"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
)

// Draft is what the agent has typed in the interaction window and not
// saved by hand (issue 15, "nothing typed is lost"): the note, and the case
// information while they edit it. It belongs to the interaction, so a
// reload of the desktop on any replica shows it, and Done files it.
type Draft struct {
	// Agent wrote it (set by the DraftSaved): the note is theirs when it is
	// filed, whoever clicks Done after a transfer.
	Agent string
	Note  string
	// CaseEditing: the agent is editing the case information; CaseData is
	// the form as typed.
	CaseEditing bool
	CaseData    map[string]string
}

// SaveDraft replaces the interaction's draft with what the agent typed.
type SaveDraft struct {
	Agent string
	Draft Draft
	At    time.Time
}

func (SaveDraft) command() {}

// Limits of a draft, those of a saved note and case-data edit (history's
// timeline), so that whatever Done files, history would have taken.
const (
	MaxNote       = 4000
	MaxCaseFields = 50
	MaxCaseKey    = 64
	MaxCaseValue  = 2000
)

// DraftError names the field of a draft at fault.
type DraftError struct{ Field, Reason string }

func (e *DraftError) Error() string { return e.Field + ": " + e.Reason }

func (d Draft) validate() error {
	if len(d.Note) > MaxNote || !utf8.ValidString(d.Note) {
		return &DraftError{"note", fmt.Sprintf("must be text of at most %d bytes", MaxNote)}
	}
	if !d.CaseEditing {
		if len(d.CaseData) > 0 {
			return &DraftError{"case_data", "is only sent while editing the case information (case_editing)"}
		}
		return nil
	}
	if len(d.CaseData) > MaxCaseFields {
		return &DraftError{"case_data", fmt.Sprintf("must have at most %d fields", MaxCaseFields)}
	}
	for k, v := range d.CaseData {
		if k == "" || len(k) > MaxCaseKey || !utf8.ValidString(k) {
			return &DraftError{"case_data", fmt.Sprintf("keys must be 1 to %d bytes of text", MaxCaseKey)}
		}
		if len(v) > MaxCaseValue || !utf8.ValidString(v) {
			return &DraftError{"case_data." + k, fmt.Sprintf("must be text of at most %d bytes", MaxCaseValue)}
		}
	}
	return nil
}

// equal compares what was typed, whoever typed it.
func (d Draft) equal(o Draft) bool {
	return d.Note == o.Note && d.CaseEditing == o.CaseEditing && maps.Equal(d.CaseData, o.CaseData)
}

func (s State) saveDraft(c SaveDraft) ([]proto.Message, error) {
	if err := s.accepted(c.Agent); err != nil {
		return nil, err
	}
	if err := c.Draft.validate(); err != nil {
		return nil, err
	}
	if c.Draft.equal(s.Draft) {
		return nil, nil // the same text saved again (a retry, a second tab)
	}
	return []proto.Message{&agentv1.DraftSaved{InteractionId: s.ID, AgentId: c.Agent, Note: c.Draft.Note,
		CaseEditing: c.Draft.CaseEditing, CaseData: c.Draft.CaseData, At: ts(c.At)}}, nil
}

// fileDraft is the DraftFiled that precedes an InteractionDone when the
// draft holds a note or a case-information edit that changes something;
// nil when there is nothing to file. Its author is the agent who typed it,
// else agent.
func (s State) fileDraft(agent string, at time.Time) proto.Message {
	if s.Draft.Agent != "" {
		agent = s.Draft.Agent
	}
	note := strings.TrimSpace(s.Draft.Note)
	edited := s.Draft.CaseEditing && !maps.Equal(s.Draft.CaseData, s.CaseData())
	if note == "" && !edited {
		return nil
	}
	f := &agentv1.DraftFiled{InteractionId: s.ID, CallbackId: s.CallbackID, AgentId: agent, Note: note,
		CaseEdited: edited, At: ts(at)}
	if edited {
		f.CaseData = s.Draft.CaseData
	}
	return f
}

// ending puts the draft, if any, before the event that ends the interaction.
func (s State) ending(agent string, at time.Time, done *agentv1.InteractionDone) []proto.Message {
	if f := s.fileDraft(agent, at); f != nil {
		return []proto.Message{f, done}
	}
	return []proto.Message{done}
}

func (s State) evolveDraft(e proto.Message) (State, bool) {
	switch e := e.(type) {
	case *agentv1.DraftSaved:
		s.Draft = Draft{Agent: e.AgentId, Note: e.Note, CaseEditing: e.CaseEditing, CaseData: e.CaseData}
	case *agentv1.DraftFiled:
		s.Draft = Draft{}
		if e.CaseEdited {
			s.EditedCaseData = e.CaseData
		}
	default:
		return s, false
	}
	return s, true
}
