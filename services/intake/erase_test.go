package intake

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/personal"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
)

// TestListForgetsErasedContacts (issue 16 point 9): once a contact is
// erased, the list neither shows nor finds their number, on a replica that
// held it in memory as on one that starts after.
func TestListForgetsErasedContacts(t *testing.T) {
	env := servicetest.New(t)
	sealer := env.Seal(t)
	start := func(mux *http.ServeMux) {
		s, err := New(Config{RefuseDuplicates: true}, Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: prometheus.NewRegistry(), Mux: mux}, ContactKeys: sealer})
		if err != nil {
			t.Fatal(err)
		}
		env.Go(s.Run)
	}
	start(env.Mux)
	const erased, kept = "+33612345601", "+33612345602"
	for _, n := range []string{erased, kept} {
		if res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": n}, nil); res.StatusCode != http.StatusCreated {
			t.Fatalf("POST: %d", res.StatusCode)
		}
		env.Clock.Advance(time.Minute) // so that kept is the newer
	}
	numbers := func() []string {
		var l listed
		if res := env.Do("GET", "/v1/callbacks", nil, &l); res.StatusCode != http.StatusOK {
			t.Fatalf("list: %d", res.StatusCode)
		}
		var out []string
		for _, it := range l.Items {
			out = append(out, it.PhoneNumber)
		}
		return out
	}
	if got := numbers(); len(got) != 2 || got[0] != kept || got[1] != erased {
		t.Fatalf("before: %v", got)
	}
	// What DELETE /v1/contacts/{number} does (history).
	id, err := sealer.Erase(t.Context(), erased)
	if err != nil {
		t.Fatal(err)
	}
	env.Append("history-erasure-"+id, "erase-"+id, &historyv1.ContactErased{KeyId: id, By: "s1", At: timestamppb.New(env.Clock.Now())})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if got := numbers(); got[1] == personal.Erased && got[0] == kept {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the erasure: %v", numbers())
		}
	}
	var l listed
	if env.Do("GET", "/v1/callbacks?phone_number=%2B33612345601", nil, &l); len(l.Items) != 0 {
		t.Fatalf("found by an erased number: %+v", l.Items)
	}
	// A replica started since reads the number erased from the store.
	mux := http.NewServeMux()
	start(mux)
	rec := httptestGet(t, mux, "/v1/callbacks")
	if !bytes.Contains(rec, []byte(`"phone_number":"[erased]"`)) || bytes.Contains(rec, []byte(erased)) {
		t.Fatalf("new replica: %s", rec)
	}
}
