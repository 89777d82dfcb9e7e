package contact

import (
	"errors"
	"strings"
	"testing"
	"time"

	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
)

func ptr(s string) *string { return &s }

func TestDecideAndEvolve(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	named := Evolve(State{}, &historyv1.ContactEdited{Name: ptr("Ada Lovelace"), AgentId: "a1"})
	cases := []struct {
		name      string
		given     State
		edit      Edit
		field     string // refused for this field
		wantName  *string
		wantEmail *string
		nothing   bool
	}{
		{name: "a name", edit: Edit{Name: ptr("  Ada Lovelace ")}, wantName: ptr("Ada Lovelace")},
		{name: "an email", edit: Edit{Email: ptr("ada@example.com")}, wantEmail: ptr("ada@example.com")},
		{name: "the same name again", given: named, edit: Edit{Name: ptr("Ada Lovelace")}, nothing: true},
		{name: "the email cleared", given: Evolve(named, &historyv1.ContactEdited{Email: ptr("a@b.co")}), edit: Edit{Email: ptr("")}, wantEmail: ptr("")},
		{name: "nothing given", edit: Edit{}, field: "name"},
		{name: "a long name", edit: Edit{Name: ptr(strings.Repeat("n", 201))}, field: "name"},
		{name: "a name on two lines", edit: Edit{Name: ptr("Ada\nLovelace")}, field: "name"},
		{name: "no address", edit: Edit{Email: ptr("ada at example")}, field: "email"},
		{name: "a display name", edit: Edit{Email: ptr("Ada <ada@example.com>")}, field: "email"},
		{name: "no domain dot", edit: Edit{Email: ptr("ada@localhost")}, field: "email"},
		{name: "a good name, a bad email", edit: Edit{Name: ptr("Ada"), Email: ptr("x")}, field: "email"},
	}
	for _, c := range cases {
		c.edit.Agent, c.edit.At, c.edit.PhoneNumber = "a1", at, "+14155550123"
		evs, err := Decide(c.given, c.edit)
		var fe *FieldError
		if c.field != "" {
			if !errors.As(err, &fe) || fe.Field != c.field || evs != nil {
				t.Errorf("%s: %v %v, want refused for %s", c.name, evs, err, c.field)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if c.nothing != (len(evs) == 0) {
			t.Errorf("%s: %v", c.name, evs)
			continue
		}
		if c.nothing {
			continue
		}
		e := evs[0].(*historyv1.ContactEdited)
		if e.GetPhoneNumber() != "+14155550123" || e.GetAgentId() != "a1" || !e.GetAt().AsTime().Equal(at) {
			t.Errorf("%s: %v", c.name, e)
		}
		s := Evolve(c.given, e)
		if !same(s.Name, c.wantName, c.given.Name) || !same(s.Email, c.wantEmail, c.given.Email) || s.EditedBy != "a1" {
			t.Errorf("%s: %+v", c.name, s)
		}
	}
}

// same: got is want, or what was given when want is nil.
func same(got, want, given *string) bool {
	if want == nil {
		want = given
	}
	return (got == nil && want == nil) || (got != nil && want != nil && *got == *want)
}
