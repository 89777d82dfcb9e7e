package history

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/consistency"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/services/history/contact"
	"github.com/ringback/ringback/services/history/index"
)

// The contact's record (issue 15, the guide's "View contact records"): the
// name and e-mail agents keep for a number, on the contact's stream
// history-contact-<key> (ContactEdited, sealed with the contact's key, so
// an erasure erases them), with the contact's callbacks, interactions and
// notes as the history has them. Read from the store on each request, so
// every replica answers the same and an erasure shows at once.

var records = eventstore.Aggregate[contact.State]{Evolve: contact.Evolve}

// recordView is the contact's record.
type recordView struct {
	PhoneNumber string      `json:"phone_number"`
	Name        *string     `json:"name"`  // null: never set by an agent
	Email       *string     `json:"email"` // null: never set by an agent
	EditedBy    string      `json:"edited_by,omitempty"`
	EditedAt    *time.Time  `json:"edited_at,omitempty"`
	Callbacks   []recordRow `json:"callbacks"`
}

type recordRow struct {
	contactRow
	Interactions []string `json:"interactions"`
}

func (s *Service) recordStream(ctx context.Context, number string) (string, error) {
	key, err := s.contactKey(ctx)
	if err != nil {
		return "", err
	}
	return index.ContactStream(key, number), nil
}

func (s *Service) contactRecord(w http.ResponseWriter, r *http.Request) error {
	number, err := contactNumber(r)
	if err != nil {
		return err
	}
	stream, err := s.recordStream(r.Context(), number)
	if err != nil {
		return err
	}
	l, err := eventstore.Load(r.Context(), s.deps.Store, stream, records)
	if err != nil {
		return err
	}
	cs, err := s.contact(r.Context(), number)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, presentRecord(number, l.State, visible(r.Context(), cs)))
	return nil
}

func presentRecord(number string, st contact.State, cs []summary) recordView {
	v := recordView{PhoneNumber: number, Name: st.Name, Email: st.Email, EditedBy: st.EditedBy,
		EditedAt: timePtr(st.EditedAt), Callbacks: []recordRow{}}
	for _, c := range cs {
		v.Callbacks = append(v.Callbacks, recordRow{contactRow: contactRowOf(c), Interactions: append([]string{}, c.Interactions...)})
	}
	return v
}

func (s *Service) editRecord(w http.ResponseWriter, r *http.Request) error {
	who, err := s.agents.Who(w, r)
	if err != nil {
		return err
	}
	number, err := contactNumber(r)
	if err != nil {
		return err
	}
	var body struct {
		Name    *string `json:"name"`
		Email   *string `json:"email"`
		AgentID string  `json:"agent_id"`
	}
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if who == "" {
		who = body.AgentID // an open platform: the desktop says who
	}
	edit := contact.Edit{PhoneNumber: number, Name: body.Name, Email: body.Email, Agent: who, At: s.deps.Clock.Now()}
	var fe *contact.FieldError
	if _, err := contact.Decide(contact.State{}, edit); errors.As(err, &fe) {
		return httpx.BadField(fe.Field, fe.Reason) // before anything is read or written
	}
	stream, err := s.recordStream(r.Context(), number)
	if err != nil {
		return err
	}
	out, err := eventstore.Execute(r.Context(), s.deps.Store, stream, records, eventstore.Cause{ID: uuid.NewString()},
		func(st contact.State) ([]proto.Message, error) { return contact.Decide(st, edit) })
	if err != nil {
		return err
	}
	cs, err := s.contact(r.Context(), number)
	if err != nil {
		return err
	}
	consistency.Set(w, out.Position)
	httpx.WriteJSON(w, http.StatusOK, presentRecord(number, out.State, visible(r.Context(), cs)))
	return nil
}
