package history_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	dispositionv1 "github.com/ringback/ringback/proto/ringback/disposition/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/history"
	"github.com/ringback/ringback/services/history/timeline"
)

const phone = "+14155550123"

// escaped is the number as a browser puts it in a path.
const escaped = "%2B14155550123"

func start(t *testing.T) *servicetest.Env {
	t.Helper()
	env := servicetest.New(t)
	svc, err := history.New(history.Config{RecentDays: 1}, history.Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
	if err != nil {
		t.Fatal(err)
	}
	env.Go(svc.Run)
	// The in-process bus drops what nobody reads yet.
	for _, svcName := range []string{"intake", "scheduler", "router", "agent", "media", "disposition"} {
		eventually(t, "subscribed to "+svcName, func() bool { return env.Bus.Groups(envelope.TopicOf(svcName)) > 0 })
	}
	env.Relay()
	return env
}

// world plays the other services of one callback, a minute apart.
type world struct {
	env   *servicetest.Env
	cb    string
	cause int
}

func (w *world) fact(stream string, correlated bool, e proto.Message) {
	w.env.T.Helper()
	w.cause++
	c := eventstore.Cause{ID: fmt.Sprintf("%s-%s-%d", w.cb, stream, w.cause)}
	if correlated {
		c.Correlation = w.cb
	}
	w.env.AppendAs(stream, c, e)
	w.env.Clock.Advance(time.Minute)
}

func request(subject string) *callbackv1.CallbackRequest {
	return &callbackv1.CallbackRequest{Service: "support", PhoneNumber: phone, Subject: subject,
		RequestedAt: timestamppb.New(servicetest.Start)}
}

// upTo plays a callback's life up to (and including) the step named.
func upTo(env *servicetest.Env, cb, iid, last string) {
	env.T.Helper()
	w := &world{env: env, cb: cb}
	r := request("about " + cb)
	steps := []struct {
		name   string
		stream string
		corr   bool
		e      proto.Message
	}{
		{"requested", "intake-callback-" + cb, true, &callbackv1.CallbackRequested{CallbackId: cb, Request: r}},
		{"scheduled", "scheduler-callback-" + cb, true, &callbackv1.CallbackScheduled{CallbackId: cb, Request: r}},
		{"due", "scheduler-callback-" + cb, true, &callbackv1.CallbackDue{CallbackId: cb, Request: r, InteractionId: iid}},
		{"queued", "router-interaction-" + iid, true, &routingv1.InteractionQueued{InteractionId: iid, CallbackId: cb, Request: r}},
		{"offered", "router-interaction-" + iid, true, &routingv1.InteractionOffered{InteractionId: iid, CallbackId: cb, AgentId: "a1", Request: r}},
		{"accepted", "router-interaction-" + iid, true, &routingv1.OfferAccepted{InteractionId: iid, AgentId: "a1"}},
		// The media gateway names only the interaction: history ties it
		// to its callback through the interaction index.
		{"connected", "media-call-k-" + iid, false, &mediav1.CallConnected{InteractionId: iid, CallId: "k-" + iid}},
		{"disposition", "disposition-interaction-" + iid, true, &dispositionv1.DispositionSet{InteractionId: iid, AgentId: "a1", Code: "resolved"}},
		{"done", "agent-interaction-" + iid, true, &agentv1.InteractionDone{InteractionId: iid, CallbackId: cb, AgentId: "a1", Disposition: "resolved"}},
	}
	for _, s := range steps {
		w.fact(s.stream, s.corr, s.e)
		if s.name == last {
			return
		}
	}
	env.T.Fatalf("no step %s", last)
}

type entry struct {
	ID     string          `json:"id"`
	Type   string          `json:"type"`
	Source string          `json:"source"`
	Time   time.Time       `json:"time"`
	Data   json.RawMessage `json:"data"`
}

type row struct {
	CallbackID    string `json:"callback_id"`
	InteractionID string `json:"interaction_id"`
	Service       string `json:"service"`
	Subject       string `json:"subject"`
	State         string `json:"state"`
	Disposition   string `json:"disposition"`
	Notes         []struct {
		AgentID string `json:"agent_id"`
		Text    string `json:"text"`
	} `json:"notes"`
	RequestedAt *time.Time `json:"requested_at"`
	CompletedAt *time.Time `json:"completed_at"`
}

type problem struct {
	Status int    `json:"status"`
	Field  string `json:"field"`
}

// eventually retries check until it passes or 10 s have gone.
func eventually(t testing.TB, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func trail(env *servicetest.Env, iid string, n int) []entry {
	env.T.Helper()
	var got []entry
	eventually(env.T, "audit trail", func() bool {
		var raw json.RawMessage
		got = nil
		res := env.Do(http.MethodGet, "/v1/interactions/"+iid+"/events", nil, &raw)
		return res.StatusCode == http.StatusOK && json.Unmarshal(raw, &got) == nil && len(got) >= n
	})
	return got
}

func TestAuditTrailAndContactHistory(t *testing.T) {
	env := start(t)
	upTo(env, "c1", "i1", "done")

	got := trail(env, "i1", 9)
	var types []string
	for _, e := range got {
		types = append(types, e.Type)
	}
	want := "CallbackRequested CallbackScheduled CallbackDue InteractionQueued InteractionOffered OfferAccepted CallConnected DispositionSet InteractionDone"
	if strings.Join(types, " ") != want {
		t.Fatalf("trail %v\nwant %s", types, want)
	}
	if got[0].Source != "intake-callback-c1" || !got[0].Time.Equal(servicetest.Start) || got[0].ID == "" {
		t.Fatalf("first entry %+v", got[0])
	}
	var req struct {
		CallbackID string `json:"callback_id"`
		Request    struct {
			PhoneNumber string `json:"phone_number"`
		} `json:"request"`
	}
	if err := json.Unmarshal(got[0].Data, &req); err != nil || req.CallbackID != "c1" || req.Request.PhoneNumber != phone {
		t.Fatalf("data %s: %v", got[0].Data, err)
	}
	// The request is in the trail once: the later events that carried it
	// along are copied without it (their other fields stay).
	for _, e := range got[1:5] {
		var d map[string]json.RawMessage
		if err := json.Unmarshal(e.Data, &d); err != nil || d["request"] != nil || d["callback_id"] == nil {
			t.Errorf("%s copied as %s: want its fields but the request", e.Type, e.Data)
		}
	}

	var rows []row
	res := env.Do(http.MethodGet, "/v1/contacts/"+escaped+"/history", nil, &rows)
	if res.StatusCode != http.StatusOK || len(rows) != 1 {
		t.Fatalf("history %d %+v", res.StatusCode, rows)
	}
	r := rows[0]
	if r.CallbackID != "c1" || r.InteractionID != "i1" || r.Service != "support" || r.Subject != "about c1" ||
		r.State != "COMPLETED" || r.Disposition != "resolved" || r.RequestedAt == nil || r.CompletedAt == nil {
		t.Fatalf("row %+v", r)
	}
	if !r.RequestedAt.Equal(servicetest.Start) || !r.CompletedAt.Equal(servicetest.Start.Add(8*time.Minute)) {
		t.Fatalf("times %v %v", r.RequestedAt, r.CompletedAt)
	}
	// A literal "+" in the path is the same contact.
	if res := env.Do(http.MethodGet, "/v1/contacts/"+phone+"/history", nil, &rows); res.StatusCode != http.StatusOK || len(rows) != 1 {
		t.Fatalf("literal +: %d %+v", res.StatusCode, rows)
	}
}

func TestRedeliveryIsRecordedOnce(t *testing.T) {
	env := start(t)
	upTo(env, "c1", "i1", "due")
	trail(env, "i1", 3)

	// The bus delivers at least once: publish the request again, then a
	// fresh fact behind it on the same topic to know it was handled.
	recs, err := env.Store.ReadStream(t.Context(), "intake-callback-c1", 0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("read: %v %d", err, len(recs))
	}
	if err := env.Bus.Publish(envelope.Topic(recs[0].Stream), envelope.ToMessage(recs[0])); err != nil {
		t.Fatal(err)
	}
	env.AppendAs("intake-callback-c1", eventstore.Cause{ID: "cancel", Correlation: "c1"},
		&callbackv1.CallbackCancelled{CallbackId: "c1", Reason: "test"})
	got := trail(env, "i1", 4)
	if len(got) != 4 || got[3].Type != "CallbackCancelled" {
		t.Fatalf("trail %+v", got)
	}
	if n := len(env.Events(timeline.Stream("c1"))); n != 4 {
		t.Fatalf("%d events in history, want 4", n)
	}
}

func TestNotes(t *testing.T) {
	env := start(t)
	upTo(env, "c1", "i1", "accepted")
	trail(env, "i1", 6)

	var note struct {
		InteractionID string    `json:"interaction_id"`
		AgentID       string    `json:"agent_id"`
		Text          string    `json:"text"`
		At            time.Time `json:"at"`
	}
	res := env.Do(http.MethodPost, "/v1/interactions/i1/notes", map[string]string{"agent_id": "a1", "text": "wants a refund"}, &note)
	if res.StatusCode != http.StatusCreated || note.Text != "wants a refund" || note.AgentID != "a1" || note.InteractionID != "i1" {
		t.Fatalf("note %d %+v", res.StatusCode, note)
	}
	var rows []row
	env.Do(http.MethodGet, "/v1/contacts/"+escaped+"/history", nil, &rows)
	if len(rows) != 1 || len(rows[0].Notes) != 1 || rows[0].Notes[0].Text != "wants a refund" || rows[0].State != "IN_PROGRESS" {
		t.Fatalf("rows %+v", rows)
	}
	if got := trail(env, "i1", 7); got[6].Type != "NoteAdded" || got[6].Source != timeline.Stream("c1") {
		t.Fatalf("trail ends with %+v", got[6])
	}

	before := len(env.Events(timeline.Stream("c1")))
	bad := []struct {
		name   string
		path   string
		body   any
		status int
		field  string
	}{
		{"no text", "/v1/interactions/i1/notes", map[string]string{"agent_id": "a1"}, 400, "text"},
		{"too long", "/v1/interactions/i1/notes", map[string]string{"agent_id": "a1", "text": strings.Repeat("x", 4001)}, 400, "text"},
		{"no agent", "/v1/interactions/i1/notes", map[string]string{"text": "x"}, 400, "agent_id"},
		{"unknown field", "/v1/interactions/i1/notes", map[string]string{"agent_id": "a1", "text": "x", "mood": "y"}, 400, "mood"},
		{"text not a string", "/v1/interactions/i1/notes", map[string]any{"agent_id": "a1", "text": 7}, 400, "text"},
		{"unknown interaction", "/v1/interactions/nope/notes", map[string]string{"agent_id": "a1", "text": "x"}, 404, ""},
	}
	for _, b := range bad {
		var p problem
		res := env.Do(http.MethodPost, b.path, b.body, &p)
		if res.StatusCode != b.status || p.Field != b.field || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %+v", b.name, res.StatusCode, p)
		}
	}
	if n := len(env.Events(timeline.Stream("c1"))); n != before {
		t.Fatalf("bad notes changed the history: %d events, want %d", n, before)
	}
	if res := env.Do(http.MethodPost, "/v1/interactions/i1/notes", map[string]string{"agent_id": "a1",
		"text": strings.Repeat("x", 4000)}, nil); res.StatusCode != http.StatusCreated {
		t.Fatalf("a note of 4000 bytes: %d", res.StatusCode)
	}
}

func TestCaseDataEdit(t *testing.T) {
	env := start(t)
	upTo(env, "c1", "i1", "accepted")
	trail(env, "i1", 6)
	var got struct {
		CaseData map[string]string `json:"case_data"`
	}
	edit := map[string]any{"agent_id": "a1", "case_data": map[string]string{"order": "A-18", "crm": "https://crm.example/A-18"}}
	if res := env.Do(http.MethodPut, "/v1/interactions/i1/case-data", edit, &got); res.StatusCode != 200 || got.CaseData["order"] != "A-18" {
		t.Fatalf("edit: %d %+v", res.StatusCode, got)
	}
	if tr := trail(env, "i1", 7); tr[6].Type != "CaseDataUpdated" {
		t.Fatalf("trail ends with %+v", tr[6])
	}
	before := len(env.Events(timeline.Stream("c1")))
	env.Do(http.MethodPut, "/v1/interactions/i1/case-data", edit, nil) // the same again: nothing new
	var p problem
	if res := env.Do(http.MethodPut, "/v1/interactions/i1/case-data", map[string]any{"agent_id": "a1",
		"case_data": map[string]string{"": "x"}}, &p); res.StatusCode != 400 || p.Field != "case_data" {
		t.Fatalf("bad key: %d %+v", res.StatusCode, p)
	}
	if res := env.Do(http.MethodPut, "/v1/interactions/nope/case-data", edit, &p); res.StatusCode != 404 {
		t.Fatalf("unknown: %d", res.StatusCode)
	}
	if n := len(env.Events(timeline.Stream("c1"))); n != before {
		t.Fatalf("%d events after no-op and bad edits, want %d", n, before)
	}
}

func TestMatrix(t *testing.T) {
	env := start(t)
	upTo(env, "c1", "i1", "done")
	upTo(env, "c2", "i2", "offered")
	trail(env, "i1", 9)
	trail(env, "i2", 5)

	type cell struct {
		Count int            `json:"count"`
		Types map[string]int `json:"types"`
		Days  int            `json:"days"`
	}
	var m struct {
		InProgress cell `json:"in_progress"`
		Recent     cell `json:"recent"`
	}
	get := func(query string) int {
		m.InProgress, m.Recent = cell{}, cell{}
		return env.Do(http.MethodGet, "/v1/contacts/"+escaped+"/matrix"+query, nil, &m).StatusCode
	}
	if s := get(""); s != 200 || m.InProgress.Count != 1 || m.InProgress.Types[history.InteractionType] != 1 ||
		m.Recent.Count != 2 || m.Recent.Days != 1 {
		t.Fatalf("matrix %d %+v", s, m)
	}
	// The agent handling i2 sees the contact's other interactions.
	if s := get("?exclude=i2"); s != 200 || m.InProgress.Count != 0 || m.Recent.Count != 1 {
		t.Fatalf("exclude: %d %+v", s, m)
	}
	env.Clock.Advance(36 * time.Hour)
	if s := get(""); s != 200 || m.Recent.Count != 0 || m.InProgress.Count != 1 {
		t.Fatalf("a day and a half later: %d %+v", s, m)
	}
	if s := get("?days=2"); s != 200 || m.Recent.Count != 2 || m.Recent.Days != 2 {
		t.Fatalf("days=2: %d %+v", s, m)
	}
	for _, q := range []string{"?days=0", "?days=abc", "?days=367"} {
		var p problem
		if res := env.Do(http.MethodGet, "/v1/contacts/"+escaped+"/matrix"+q, nil, &p); res.StatusCode != 400 || p.Field != "days" {
			t.Errorf("%s: %d %+v", q, res.StatusCode, p)
		}
	}

	var rows []row
	env.Do(http.MethodGet, "/v1/contacts/"+escaped+"/history", nil, &rows)
	if len(rows) != 2 || rows[0].CallbackID != "c2" || rows[0].State != "OFFERED" || rows[1].CallbackID != "c1" {
		t.Fatalf("newest first: %+v", rows)
	}
}

func TestBadRequests(t *testing.T) {
	env := start(t)
	for _, path := range []string{"/v1/contacts/0612345678/history", "/v1/contacts/%2B1415CALLME/matrix",
		"/v1/contacts/%2B1234567890123456/history"} {
		var p problem
		if res := env.Do(http.MethodGet, path, nil, &p); res.StatusCode != 400 || p.Field != "phone_number" {
			t.Errorf("%s: %d %+v", path, res.StatusCode, p)
		}
	}
	var rows []row
	if res := env.Do(http.MethodGet, "/v1/contacts/"+escaped+"/history", nil, &rows); res.StatusCode != 200 || rows == nil || len(rows) != 0 {
		t.Errorf("unknown contact: %d %v", res.StatusCode, rows)
	}
	if res := env.Do(http.MethodGet, "/v1/interactions/nope/events", nil, nil); res.StatusCode != 404 {
		t.Errorf("unknown interaction: %d", res.StatusCode)
	}
}
