package history_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/personal"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
	"github.com/ringback/ringback/services/history"
)

// startSealed is history on a store that seals personal data, as the
// binary runs it (--personal.keys): the world's facts are appended sealed.
func startSealed(t *testing.T, eraser bool) *servicetest.Env {
	t.Helper()
	env := servicetest.New(t)
	sealer := env.Seal(t)
	deps := history.Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}}
	if eraser {
		deps.Eraser = sealer
	}
	svc, err := history.New(history.Config{RecentDays: 1}, deps)
	if err != nil {
		t.Fatal(err)
	}
	env.Go(svc.Run)
	for _, svcName := range []string{"intake", "scheduler", "router", "agent", "media", "disposition"} {
		eventually(t, "subscribed to "+svcName, func() bool { return env.Bus.Groups(envelope.TopicOf(svcName)) > 0 })
	}
	env.Relay()
	return env
}

// TestEraseContact (issue 16 point 9): after DELETE /v1/contacts/{number}
// the contact's history still lists the callback, its state and
// disposition, and answers its subject and notes as erased, including what
// the view held in memory.
func TestEraseContact(t *testing.T) {
	env := startSealed(t, true)
	upTo(env, "c1", "i1", "done")
	var rows []row
	eventually(t, "the history read once, so the view holds it", func() bool {
		env.Do(http.MethodGet, "/v1/contacts/"+escaped+"/history", nil, &rows)
		return len(rows) == 1 && rows[0].Subject == "about c1" && rows[0].Disposition == "resolved" && rows[0].State == "COMPLETED"
	})
	var p problem
	if res := env.Do(http.MethodDelete, "/v1/contacts/0612", nil, &p); res.StatusCode != 400 || p.Field != "phone_number" {
		t.Fatalf("erase of a malformed number: %d %+v", res.StatusCode, p)
	}
	var erased struct {
		KeyID string `json:"key_id"`
	}
	if res := env.Do(http.MethodDelete, "/v1/contacts/"+escaped, nil, &erased); res.StatusCode != 200 || erased.KeyID == "" {
		t.Fatalf("erase: %d %+v", res.StatusCode, erased)
	}
	if strings.Contains(erased.KeyID, phone[1:]) {
		t.Fatalf("the key id %q shows the number", erased.KeyID)
	}
	env.Do(http.MethodGet, "/v1/contacts/"+escaped+"/history", nil, &rows)
	if len(rows) != 1 || rows[0].Subject != personal.Erased || rows[0].Disposition != "resolved" || rows[0].State != "COMPLETED" {
		t.Fatalf("history after erasure: %+v", rows)
	}
	// Erasing again is no error: the request may be repeated.
	if res := env.Do(http.MethodDelete, "/v1/contacts/"+escaped, nil, nil); res.StatusCode != 200 {
		t.Fatalf("second erasure: %d", res.StatusCode)
	}
}

// TestEraseWithoutKeyStore: a platform that does not seal cannot erase,
// and says so rather than pretending.
func TestEraseWithoutKeyStore(t *testing.T) {
	env := startSealed(t, false)
	if res := env.Do(http.MethodDelete, "/v1/contacts/"+escaped, nil, nil); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("erase without a key store: %d", res.StatusCode)
	}
}
