package history_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/personal"
)

type recordBody struct {
	PhoneNumber string  `json:"phone_number"`
	Name        *string `json:"name"`
	Email       *string `json:"email"`
	EditedBy    string  `json:"edited_by"`
	Callbacks   []struct {
		CallbackID   string   `json:"callback_id"`
		Interactions []string `json:"interactions"`
		Notes        []struct{ Text string }
	} `json:"callbacks"`
}

// TestContactRecordEditedThenErased (issue 15): the record lists the
// contact's callbacks with their interactions and notes; an agent sets the
// name and e-mail, stored sealed as ContactEdited; bad input is refused
// naming the field and stores nothing; an erasure erases the name and
// e-mail as every other personal field.
func TestContactRecordEditedThenErased(t *testing.T) {
	env := startSealed(t, true)
	upTo(env, "c1", "i1", "done")
	var rec recordBody
	eventually(t, "the record lists the callback", func() bool {
		env.Do(http.MethodGet, "/v1/contacts/"+escaped+"/record", nil, &rec)
		return len(rec.Callbacks) == 1 && len(rec.Callbacks[0].Interactions) == 1
	})
	if rec.Name != nil || rec.Email != nil || rec.PhoneNumber != phone {
		t.Errorf("a record never edited: %+v", rec)
	}

	for _, c := range []struct {
		body  string
		field string
	}{
		{`{}`, "name"},
		{`{"name": "Ada\nLovelace"}`, "name"},
		{`{"email": "ada at example"}`, "email"},
		{`{"name": "Ada", "email": "Ada <ada@example.com>"}`, "email"},
		{`{"nickname": "Ada"}`, "nickname"},
	} {
		var p problem
		res := env.Do(http.MethodPut, "/v1/contacts/"+escaped+"/record", rawJSON(c.body), &p)
		if res.StatusCode != 400 || p.Field != c.field {
			t.Errorf("%s: %d %+v, want a 400 naming %s", c.body, res.StatusCode, p, c.field)
		}
	}
	for _, r := range rawRecords(t, env.Store.(*personal.Store).Inner()) {
		if r.Type == "ringback.history.v1.ContactEdited" {
			t.Fatalf("a refused edit stored %s", r.Type)
		}
	}

	res := env.Do(http.MethodPut, "/v1/contacts/"+escaped+"/record",
		map[string]string{"name": "Ada Lovelace", "email": "ada@example.com", "agent_id": "a1"}, &rec)
	if res.StatusCode != 200 || rec.Name == nil || *rec.Name != "Ada Lovelace" || *rec.Email != "ada@example.com" || rec.EditedBy != "a1" {
		t.Fatalf("edit: %d %+v", res.StatusCode, rec)
	}
	// Only the name changes: the e-mail stays.
	env.Do(http.MethodPut, "/v1/contacts/"+escaped+"/record", map[string]string{"name": "Augusta Ada King"}, &rec)
	if *rec.Name != "Augusta Ada King" || *rec.Email != "ada@example.com" {
		t.Fatalf("a second edit: %+v", rec)
	}
	// Stored sealed: the raw store holds no name, and the event names the
	// contact's key, not the number.
	var edits int
	for _, r := range rawRecords(t, env.Store.(*personal.Store).Inner()) {
		if strings.Contains(string(r.Data), "Ada") || strings.Contains(string(r.Data), "example.com") {
			t.Fatalf("%s holds the record in clear: %q", r.Stream, r.Data)
		}
		if r.Type == "ringback.history.v1.ContactEdited" {
			edits++
		}
	}
	if edits != 2 {
		t.Errorf("%d ContactEdited stored, want 2", edits)
	}

	if res := env.Do(http.MethodDelete, "/v1/contacts/"+escaped, nil, nil); res.StatusCode != 200 {
		t.Fatalf("erase: %d", res.StatusCode)
	}
	rec = recordBody{}
	env.Do(http.MethodGet, "/v1/contacts/"+escaped+"/record", nil, &rec)
	if rec.Name == nil || *rec.Name != personal.Erased || *rec.Email != personal.Erased || len(rec.Callbacks) != 1 {
		t.Fatalf("the record after erasure: %+v", rec)
	}
}

// rawRecords is every event of the store as it holds it, sealed.
func rawRecords(t *testing.T, store eventstore.Store) []eventstore.RecordedEvent {
	t.Helper()
	head, err := store.(eventstore.HeadReader).Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []eventstore.RecordedEvent
	stop := errors.New("at the head")
	err = store.SubscribeAll(context.Background(), eventstore.Position{}, func(_ context.Context, r eventstore.RecordedEvent) error {
		out = append(out, r)
		if !r.Position.Less(head) {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatal(err)
	}
	return out
}

// rawJSON is a request body sent as it is written.
type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }
