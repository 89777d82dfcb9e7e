package intake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringback/ringback/libs/consistency"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/intake/callback"
	"github.com/ringback/ringback/services/intake/index"
)

type listed struct {
	Items      []index.Item `json:"items"`
	NextCursor string       `json:"next_cursor"`
}

func ids(items []index.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

// TestListCallbacks: GET /v1/callbacks finds what was just written, by
// service, state, number, agent and time, pages with a cursor, keeps a
// client to its services, and names the parameter at fault.
func TestListCallbacks(t *testing.T) {
	env, _ := manageEnv(t)
	create := func(service, number string) string {
		t.Helper()
		var cb callbackView
		if res := env.Do("POST", "/v1/callbacks", map[string]any{"service": service, "phone_number": number}, &cb); res.StatusCode != http.StatusCreated ||
			res.Header.Get(consistency.Header) == "" {
			t.Fatalf("POST %s %s: %d %v", service, number, res.StatusCode, res.Header)
		}
		env.Clock.Advance(time.Minute) // one request a minute, so the order is theirs
		return cb.ID
	}
	a := create("support", "+33612345601")
	b := create("sales", "+33612345601")
	c := create("support", "+33612345603")
	d := create("support", "+33612345604")
	res := env.DoWith("DELETE", "/v1/callbacks/"+d, servicetest.Bearer("crm"), nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("cancel: %d", res.StatusCode)
	}
	// Every write answers its consistency token, which any list honours;
	// a token it did not give is a 400 naming it.
	token := res.Header.Get(consistency.Header)
	for _, c := range []struct {
		header map[string]string
		query  string
		status int
		field  string
	}{
		{map[string]string{consistency.AfterHeader: token}, "", http.StatusOK, ""},
		{nil, "after=" + token, http.StatusOK, ""},
		{map[string]string{consistency.AfterHeader: "nope"}, "", http.StatusBadRequest, consistency.AfterHeader},
		{nil, "after=nope", http.StatusBadRequest, consistency.AfterParam},
	} {
		h := map[string]string{"Authorization": servicetest.Bearer("crm")["Authorization"]}
		for k, v := range c.header {
			h[k] = v
		}
		var p problem
		if res := env.DoWith("GET", "/v1/callbacks?"+c.query, h, nil, &p); token == "" || res.StatusCode != c.status || p.Field != c.field {
			t.Errorf("token %q, %v ?%s: %d %+v", token, c.header, c.query, res.StatusCode, p)
		}
	}
	env.AppendAs("router-offer-i1", eventstore.Cause{ID: "accept-1", Correlation: c},
		&routingv1.OfferAccepted{InteractionId: "i1", AgentId: "a1"})
	waitFor(t, env, c, func(st callback.State) bool { return st.Agent == "a1" })

	list := func(who, query string) (int, listed) {
		t.Helper()
		var l listed
		res := env.DoWith("GET", "/v1/callbacks?"+query, servicetest.Bearer(who), nil, &l)
		return res.StatusCode, l
	}
	for _, c := range []struct {
		who, query string
		want       []string
	}{
		// Read right after the writes: the index waited for them.
		{"s1", "", []string{d, c, a}}, // s1 supervises support only
		{"crm", "state=QUEUED,IN_PROGRESS", []string{c, a}},
		{"crm", "state=CANCELLED", []string{d}},
		{"crm", "state=queued&state=cancelled", []string{d, a}},
		{"crm", "phone_number=%2B33612345601", []string{a}},
		{"shop", "phone_number=%2B33612345601", []string{b}},
		{"shop", "", []string{b}},
		{"crm", "agent=a1", []string{c}},
		{"crm", "from=2026-11-25T09:01:00Z&to=2026-11-25T09:03:00Z", []string{c}},
		{"crm", "time_field=updated_at&from=2026-11-25T09:03:30Z", []string{d, c}},
		{"crm", "service=support&limit=500", []string{d, c, a}},
	} {
		status, l := list(c.who, c.query)
		if status != http.StatusOK || !slices.Equal(ids(l.Items), c.want) || l.NextCursor != "" {
			t.Errorf("%s ?%s: %d %v, want %v", c.who, c.query, status, ids(l.Items), c.want)
		}
	}
	// What an item says.
	_, l := list("crm", "agent=a1")
	if it := l.Items[0]; it.State != "IN_PROGRESS" || it.Service != "support" || it.PhoneNumber != "+33612345603" ||
		it.Agent != "a1" || !it.RequestedAt.Equal(servicetest.Start.Add(2*time.Minute)) {
		t.Errorf("item %+v", it)
	}

	// Pages of one, by cursor.
	var got []string
	query := "limit=1"
	for range 10 {
		status, l := list("s1", query)
		if status != http.StatusOK || len(l.Items) != 1 {
			t.Fatalf("page: %d %+v", status, l)
		}
		got = append(got, l.Items[0].ID)
		if l.NextCursor == "" {
			break
		}
		query = "limit=1&cursor=" + url.QueryEscape(l.NextCursor)
	}
	if !slices.Equal(got, []string{d, c, a}) {
		t.Fatalf("pages: %v", got)
	}

	for _, c := range []struct {
		who, query string
		status     int
		field      string
	}{
		{"crm", "service=sales", http.StatusForbidden, "service"},
		{"crm", "service=support,sales", http.StatusForbidden, "service"},
		{"a1", "", http.StatusForbidden, "Authorization"},
		{"", "", http.StatusUnauthorized, "Authorization"},
		{"crm", "service=Support", http.StatusBadRequest, "service"},
		{"crm", "state=OPEN", http.StatusBadRequest, "state"},
		{"crm", "phone_number=0612", http.StatusBadRequest, "phone_number"},
		{"crm", "phone_number=+33612345601", http.StatusBadRequest, "phone_number"}, // a + in a URL is a space
		{"crm", "agent=a%20b", http.StatusBadRequest, "agent"},
		{"crm", "from=yesterday", http.StatusBadRequest, "from"},
		{"crm", "to=2026-11-25", http.StatusBadRequest, "to"},
		{"crm", "from=2026-11-25T10:00:00Z&to=2026-11-25T09:00:00Z", http.StatusBadRequest, "to"},
		{"crm", "time_field=created", http.StatusBadRequest, "time_field"},
		{"crm", "limit=0", http.StatusBadRequest, "limit"},
		{"crm", "limit=501", http.StatusBadRequest, "limit"},
		{"crm", "limit=ten", http.StatusBadRequest, "limit"},
		{"crm", "cursor=garbage", http.StatusBadRequest, "cursor"},
		{"crm", "status=QUEUED", http.StatusBadRequest, "status"},
	} {
		var p problem
		var h map[string]string
		if c.who != "" {
			h = servicetest.Bearer(c.who)
		}
		res := env.DoWith("GET", "/v1/callbacks?"+c.query, h, nil, &p)
		if res.StatusCode != c.status || p.Field != c.field || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s ?%s: %d %+v, want %d naming %q", c.who, c.query, res.StatusCode, p, c.status, c.field)
		}
	}
}

// TestListOnAnotherReplica: a callback written through one replica is
// listed at once by another on the same store, and /readyz waits for the
// index to catch up.
func TestListOnAnotherReplica(t *testing.T) {
	env, _ := manageEnv(t)
	post := func(number string) string {
		t.Helper()
		var cb callbackView
		if res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": number}, &cb); res.StatusCode != http.StatusCreated {
			t.Fatalf("POST: %d", res.StatusCode)
		}
		return cb.ID
	}
	for _, n := range []string{"+33612345601", "+33612345602", "+33612345603"} {
		post(n)
	}
	// A second replica (an open platform, so a bare GET lists) starts on
	// the store: not ready until its index holds what is there.
	mux := http.NewServeMux()
	other, err := New(Config{}, Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: prometheus.NewRegistry(), Mux: mux}})
	if err != nil {
		t.Fatal(err)
	}
	if other.Ready() == nil {
		t.Fatal("ready before it ran")
	}
	env.Go(other.Run)
	for deadline := time.Now().Add(10 * time.Second); other.Ready() != nil; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", other.Ready())
		}
	}
	// Each written through the first replica and listed by the second at once.
	for _, n := range []string{"+33612345604", "+33612345605", "+33612345606"} {
		id := post(n)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/callbacks?phone_number="+url.QueryEscape(n), nil))
		var l listed
		if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil || rec.Code != http.StatusOK || !slices.Equal(ids(l.Items), []string{id}) {
			t.Fatalf("listed by the other replica: %d %s", rec.Code, rec.Body)
		}
	}
}

// httptestGet is a GET served by mux, its body once 200.
func httptestGet(t *testing.T, mux *http.ServeMux, path string) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}
