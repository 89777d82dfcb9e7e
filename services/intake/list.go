package intake

// GET /v1/callbacks: the callbacks of the caller's services, searched in
// the index (services/intake/index) every replica folds from the shared
// store. Before answering, a list waits until its replica has folded the
// store up to the head it reads first: whatever was written before the
// request, by any replica, is in the answer (read-your-writes across
// replicas, for one read of the head).

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/consistency"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/libs/phone"
	"github.com/ringback/ringback/libs/streams"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
	"github.com/ringback/ringback/services/intake/callback"
	"github.com/ringback/ringback/services/intake/index"
)

// erasurePrefix is history's stream of a contact's erasure (ContactErased);
// its name is the bus contract, so intake need not import history.
const erasurePrefix = streams.HistoryErasure

// Limits of a list.
const (
	defaultLimit = 50
	maxLimit     = 500
	// listWait bounds the wait for the index to reach the store's head: far
	// above its usual lag (milliseconds), short of a client's patience.
	listWait = 5 * time.Second
)

// fold is the projection's Apply: one goroutine, the index's only writer.
func (s *Service) fold(r eventstore.RecordedEvent, m proto.Message) {
	if e, ok := m.(*historyv1.ContactErased); ok {
		// Catching up, the callbacks folded so far were read after their
		// contact's key was destroyed, so they read erased already: no
		// need to hash every number once per past erasure.
		if s.deps.ContactKeys == nil || s.proj.Ready() != nil {
			return
		}
		// Rare: each number hashed once, under the write lock.
		s.mu.Lock()
		n := s.idx.Erase(func(number string) bool { return s.deps.ContactKeys.KeyID(number) == e.KeyId })
		s.mu.Unlock()
		s.deps.Log.Info("forgot an erased contact's number in the callbacks' index", "callbacks", n)
		return
	}
	if !strings.HasPrefix(r.Stream, index.StreamPrefix) {
		return
	}
	s.mu.Lock()
	s.idx.Apply(r.Stream, m)
	s.mu.Unlock()
}

// listAnswer is the body of GET /v1/callbacks.
type listAnswer struct {
	Items []index.Item `json:"items"`
	// NextCursor asks for the next page; absent on the last.
	NextCursor string `json:"next_cursor,omitempty"`
}

var (
	// listParams are the query parameters a list knows: another is a typo
	// that would otherwise widen the search silently.
	listParams = []string{"service", "state", "phone_number", "agent", "from", "to", "time_field", "limit", "cursor",
		consistency.AfterParam}
	states = map[string]callbackv1.CallbackState{
		"SCHEDULED":   callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED,
		"QUEUED":      callbackv1.CallbackState_CALLBACK_STATE_QUEUED,
		"IN_PROGRESS": callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS,
		"COMPLETED":   callbackv1.CallbackState_CALLBACK_STATE_COMPLETED,
		"CANCELLED":   callbackv1.CallbackState_CALLBACK_STATE_CANCELLED,
	}
)

// values are a parameter's values, repeated or comma separated.
func values(q map[string][]string, name string) []string {
	var out []string
	for _, v := range q[name] {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// listQuery reads a list's filter, page and cursor, or answers the 400
// naming the parameter at fault.
func listQuery(r *http.Request) (f index.Filter, after *index.Cursor, limit int, err error) {
	q := r.URL.Query()
	for name := range q {
		if !slices.Contains(listParams, name) {
			return f, nil, 0, httpx.BadField(name, "unknown parameter; known: "+strings.Join(listParams, ", "))
		}
	}
	for _, svc := range values(q, "service") {
		if !callback.ValidService(svc) {
			return f, nil, 0, httpx.BadField("service", "must be service names: lower-case letters, digits and dashes")
		}
		f.Services = append(f.Services, svc)
	}
	for _, st := range values(q, "state") {
		v, ok := states[strings.ToUpper(st)]
		if !ok {
			return f, nil, 0, httpx.BadField("state", "must be SCHEDULED, QUEUED, IN_PROGRESS, COMPLETED or CANCELLED")
		}
		f.States = append(f.States, v)
	}
	if f.Phone = q.Get("phone_number"); f.Phone != "" && !phone.IsContactNumber(f.Phone) {
		return f, nil, 0, httpx.BadField("phone_number", "must be an E.164 number such as +14155550123 (%2B for the + in a URL)")
	}
	if f.Agent = q.Get("agent"); f.Agent != "" && !agentauth.ValidID(f.Agent) {
		return f, nil, 0, httpx.BadField("agent", "must be an agent id: letters, digits, '.', '_' or '-', at most 64")
	}
	var ok bool
	if f.Field, ok = index.ParseTimeField(q.Get("time_field")); !ok {
		return f, nil, 0, httpx.BadField("time_field", "must be requested_at, scheduled_for or updated_at")
	}
	for _, b := range []struct {
		name string
		t    *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(b.name); v != "" {
			if *b.t, err = httpx.ParseTime(b.name, v); err != nil {
				return f, nil, 0, err
			}
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, nil, 0, httpx.BadField("to", "must be after from")
	}
	limit = defaultLimit
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxLimit {
			return f, nil, 0, httpx.BadField("limit", "must be a whole number from 1 to 500")
		}
	}
	if v := q.Get("cursor"); v != "" {
		c, err := index.ParseCursor(v)
		if err != nil {
			return f, nil, 0, httpx.BadField("cursor", "must be the next_cursor of a previous page")
		}
		after = &c
	}
	return f, after, limit, nil
}

func (s *Service) list(w http.ResponseWriter, r *http.Request) error {
	f, after, limit, err := listQuery(r)
	if err != nil {
		return err
	}
	// A client or supervisor of some services sees theirs only: asking for
	// another is refused as creating for it is; asking for none is asking
	// for all of theirs.
	if p := agentauth.Who(r.Context()); !s.agents.Open() && p.Services != nil {
		for _, svc := range f.Services {
			if !p.Covers(svc) {
				refused := httpx.Forbidden("this caller may not list the callbacks of service " + svc)
				refused.Field = "service"
				return refused
			}
		}
		if f.Services == nil {
			f.Services = p.Services
		}
	}
	items, next, err := s.ListCallbacks(r.Context(), f, after, limit)
	if err != nil {
		return err
	}
	a := listAnswer{Items: items}
	if a.Items == nil {
		a.Items = []index.Item{}
	}
	if next != nil {
		a.NextCursor = next.String()
	}
	httpx.WriteJSON(w, http.StatusOK, a)
	return nil
}

// ListCallbacks is at most limit callbacks matching f, newest request
// first, after the cursor (nil: the first page), and the next page's
// cursor (nil on the last), including whatever any replica wrote before
// the call: the search other front doors share (GMS's query by
// properties, the supervisor's page). Scoping f to what the caller may
// see is the caller's: f.Services nil is every service. Its error is an
// httpx.Problem (503) when the index cannot catch up with the store.
func (s *Service) ListCallbacks(ctx context.Context, f index.Filter, after *index.Cursor, limit int) ([]index.Item, *index.Cursor, error) {
	if err := s.caughtUp(ctx); err != nil {
		return nil, nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	items, next := s.idx.List(f, after, limit)
	return items, next, nil
}

// caughtUp waits until the index holds every event the store held when
// called, another service's included.
func (s *Service) caughtUp(parent context.Context) error {
	hr, ok := s.deps.Store.(eventstore.HeadReader)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(parent, listWait)
	defer cancel()
	head, err := hr.Head(ctx)
	if err != nil {
		return err
	}
	if err := s.proj.WaitPosition(ctx, head); err != nil {
		if parent.Err() != nil {
			return parent.Err() // the caller left
		}
		if rerr := s.proj.Ready(); rerr != nil {
			return httpx.Unavailable("the callbacks' index is not ready: " + rerr.Error())
		}
		return httpx.Unavailable("the callbacks' index is behind the store; try again")
	}
	return nil
}
