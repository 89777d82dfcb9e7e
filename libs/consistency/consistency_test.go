package consistency_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/consistency"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/libs/readmodel"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

func TestTokenRoundTrip(t *testing.T) {
	for _, pos := range []eventstore.Position{{}, {Commit: 1, Prepare: 1}, {Commit: 1 << 63, Prepare: 42}} {
		got, err := consistency.Parse(consistency.Token(pos))
		if err != nil || got != pos {
			t.Errorf("Parse(Token(%v)) = %v, %v", pos, got, err)
		}
	}
	for _, bad := range []string{"", "x", "AAAA", "!!!!!!!!!!!!!!!!!!!!!!", consistency.Token(eventstore.Position{}) + "A"} {
		if _, err := consistency.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// TestAwait: against a real read model on the embedded store, a request
// carrying another service's write's token is answered once the view has
// read that far; a bad token is a 400 naming it; a token the view does not
// reach in time is a 503 with Retry-After, and the handler never runs.
func TestAwait(t *testing.T) {
	st, err := embedded.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	view := &readmodel.Projection{Prefixes: []string{"mine-"}, Apply: func(eventstore.RecordedEvent, proto.Message) {}}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = view.Run(ctx, st) }()

	ran := 0
	routes := consistency.Routes(view, 300*time.Millisecond, []agentauth.Route{{Pattern: "GET /x",
		Handle: func(w http.ResponseWriter, r *http.Request) error {
			ran++
			w.WriteHeader(http.StatusNoContent)
			return nil
		}}})
	h := httpx.Handle(nil, routes[0].Handle)
	do := func(header, query string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/x"+query, nil)
		if header != "" {
			req.Header.Set(consistency.AfterHeader, header)
		}
		rec := httptest.NewRecorder()
		h(rec, req)
		return rec
	}

	if rec := do("", ""); rec.Code != http.StatusNoContent || ran != 1 {
		t.Fatalf("no token: %d, ran %d", rec.Code, ran)
	}
	// Another service's write: the view folds nothing of it, yet waits for it.
	out, err := eventstore.Execute(t.Context(), st, "theirs-1", eventstore.Aggregate[int]{Evolve: func(n int, _ proto.Message) int { return n + 1 }},
		eventstore.Cause{ID: "w"}, func(int) ([]proto.Message, error) {
			return []proto.Message{&callbackv1.CallbackCancelled{CallbackId: "1", At: timestamppb.Now()}}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	tok := consistency.Token(out.Position)
	if rec := do(tok, ""); rec.Code != http.StatusNoContent || ran != 2 {
		t.Fatalf("token of a write in the store: %d, ran %d", rec.Code, ran)
	}
	if rec := do("", "?after="+tok); rec.Code != http.StatusNoContent || ran != 3 {
		t.Fatalf("token in the query: %d, ran %d", rec.Code, ran)
	}

	var p struct {
		Status int
		Field  string
	}
	rec := do("not-a-token", "")
	_ = json.Unmarshal(rec.Body.Bytes(), &p)
	if rec.Code != http.StatusBadRequest || p.Field != consistency.AfterHeader || ran != 3 {
		t.Fatalf("bad token: %d %s, ran %d", rec.Code, rec.Body, ran)
	}
	rec = do(consistency.Token(eventstore.Position{Commit: out.Position.Commit + 1000, Prepare: out.Position.Prepare + 1000}), "")
	_ = json.Unmarshal(rec.Body.Bytes(), &p)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || p.Field != consistency.AfterHeader || ran != 3 {
		t.Fatalf("token beyond the view: %d %s Retry-After %q, ran %d", rec.Code, rec.Body, rec.Header().Get("Retry-After"), ran)
	}
}
