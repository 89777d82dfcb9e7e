package history

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
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/libs/streams"
	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
)

// Eraser destroys a contact's key, so that the contact's personal data
// reads as erased everywhere (libs/personal.Sealer, issue 16 point 9).
type Eraser interface {
	// Erase destroys the key of the contact with number and returns its
	// key id; erasing a contact with no key is not an error.
	Erase(ctx context.Context, number string) (keyID string, err error)
	// Forget drops what this process cached of key id.
	Forget(keyID string)
}

// ErasureStreamPrefix starts the stream recording a contact's erasure.
const ErasureStreamPrefix = streams.HistoryErasure

type erasureView struct {
	KeyID string    `json:"key_id"`
	At    time.Time `json:"at"`
}

// erase is DELETE /v1/contacts/{phone_number}: the contact's key is
// destroyed, then the erasure is recorded, so that every replica folding
// it drops the opened values it holds. The record names the key id, not
// the number. Destroying first means a failure to record leaves the data
// erased (what was asked) rather than recorded and readable; a retry
// records it.
func (s *Service) erase(w http.ResponseWriter, r *http.Request) error {
	p, err := contactNumber(r)
	if err != nil {
		return err
	}
	if s.deps.Eraser == nil {
		return httpx.Unavailable("personal data is not sealed on this platform (no key store), so it cannot be erased")
	}
	id, err := s.deps.Eraser.Erase(r.Context(), p)
	if err != nil {
		return err
	}
	now := s.deps.Clock.Now()
	out, err := eventstore.Execute(r.Context(), s.deps.Store, ErasureStreamPrefix+id, appendOnly,
		eventstore.Cause{ID: uuid.NewString()}, func(struct{}) ([]proto.Message, error) {
			return []proto.Message{&historyv1.ContactErased{KeyId: id, By: agentauth.Who(r.Context()).ID,
				At: timestamppb.New(now)}}, nil
		})
	if err != nil {
		return err
	}
	// The contact's history read next on this replica must be erased too.
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := s.proj.WaitFor(ctx, out.Position); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, erasureView{KeyID: id, At: now})
	return nil
}

// applyErasure drops every opened value this replica holds once a contact
// is erased: its key from the sealer's cache, and the whole view, which
// reads back from the store what is asked next (now erased). Erasures are
// rare, so forgetting all is simpler than finding the contact's entries,
// and cannot miss one.
func (s *Service) applyErasure(e *historyv1.ContactErased) {
	if s.deps.Eraser != nil {
		s.deps.Eraser.Forget(e.KeyId)
	}
	s.view.reset()
}

// apply folds an event of history's streams into the view.
func (s *Service) apply(r eventstore.RecordedEvent, e proto.Message) {
	if strings.HasPrefix(r.Stream, ErasureStreamPrefix) {
		if ce, ok := e.(*historyv1.ContactErased); ok {
			s.applyErasure(ce)
		}
		return
	}
	s.view.apply(r, e)
}
