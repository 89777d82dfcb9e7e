// Package contact is the pure domain of a contact's record (issue 15, the
// guide's contact directory): the name and e-mail agents keep for a
// number, edited as ContactEdited on the contact's stream
// (history-contact-<key>, beside its index entries). No I/O.
package contact

import (
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
)

// Limits of the record's fields: a name as intake takes one, an e-mail
// address as RFC 5321 bounds it.
const (
	MaxName  = 200
	MaxEmail = 254
)

// State is a contact's record as agents edited it. Nil fields were never
// set: the desktop shows what the callbacks said instead.
type State struct {
	Name, Email *string
	EditedBy    string
	EditedAt    time.Time
}

// Edit sets the name, the e-mail or both; nil leaves one as it is, ""
// clears it.
type Edit struct {
	PhoneNumber string
	Name, Email *string
	Agent       string
	At          time.Time
}

// FieldError is an edit refused for one field.
type FieldError struct{ Field, Reason string }

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Decide validates an edit; one that changes nothing is nothing to do.
func Decide(s State, c Edit) ([]proto.Message, error) {
	if c.Name == nil && c.Email == nil {
		return nil, &FieldError{"name", "give a name, an email or both"}
	}
	e := &historyv1.ContactEdited{PhoneNumber: c.PhoneNumber, AgentId: c.Agent, At: timestamppb.New(c.At)}
	if c.Name != nil {
		n := strings.TrimSpace(*c.Name)
		if err := validName(n); err != nil {
			return nil, err
		}
		if s.Name == nil || *s.Name != n {
			e.Name = &n
		}
	}
	if c.Email != nil {
		m := strings.TrimSpace(*c.Email)
		if err := validEmail(m); err != nil {
			return nil, err
		}
		if s.Email == nil || *s.Email != m {
			e.Email = &m
		}
	}
	if e.Name == nil && e.Email == nil {
		return nil, nil
	}
	return []proto.Message{e}, nil
}

func validName(n string) error {
	if len(n) > MaxName || !utf8.ValidString(n) {
		return &FieldError{"name", "must be valid text of at most 200 bytes"}
	}
	for _, r := range n {
		if unicode.IsControl(r) {
			return &FieldError{"name", "must be one line of text"}
		}
	}
	return nil
}

func validEmail(m string) error {
	if m == "" {
		return nil
	}
	if len(m) > MaxEmail {
		return &FieldError{"email", "must be at most 254 bytes"}
	}
	a, err := mail.ParseAddress(m)
	if err != nil || a.Address != m || a.Name != "" || !strings.Contains(m[strings.LastIndexByte(m, '@')+1:], ".") {
		return &FieldError{"email", "must be an address such as ada@example.com"}
	}
	return nil
}

// Evolve folds the record's events; others (the index entries) are
// ignored.
func Evolve(s State, e proto.Message) State {
	ed, ok := e.(*historyv1.ContactEdited)
	if !ok {
		return s
	}
	if ed.Name != nil {
		n := ed.GetName()
		s.Name = &n
	}
	if ed.Email != nil {
		m := ed.GetEmail()
		s.Email = &m
	}
	s.EditedBy, s.EditedAt = ed.GetAgentId(), ed.GetAt().AsTime()
	return s
}
