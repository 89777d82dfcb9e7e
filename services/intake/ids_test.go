package intake

import (
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
)

// With the server's key, the callback id of an Idempotency-Key is the same
// on every replica sharing the key, and not the one anybody can compute
// from the key alone (issue 16).
func TestCallbackIDsAreKeyedWithTheServersSecret(t *testing.T) {
	idOf := func(key []byte) string {
		env := servicetest.New(t)
		s, err := New(Config{RefuseDuplicates: true, IDKey: key}, Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
		if err != nil {
			t.Fatal(err)
		}
		env.Go(s.Run)
		env.Relay(Topics...)
		var cb callbackView
		res := env.DoWith("POST", "/v1/callbacks", map[string]string{"Idempotency-Key": "order-17"},
			map[string]any{"service": "support", "phone_number": "+14155550123"}, &cb)
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("POST: %d", res.StatusCode)
		}
		return cb.ID
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	a, b := idOf(secret), idOf(secret)
	if a != b {
		t.Fatalf("two replicas with one key: %s and %s", a, b)
	}
	if computable := uuid.NewSHA1(idNamespace, []byte("order-17")).String(); a == computable {
		t.Fatal("the id is computable from the Idempotency-Key alone")
	}
	if other := idOf([]byte("another secret of thirty-two b..")); other == a {
		t.Fatal("another secret gives the same id")
	}
}

// An Idempotency-Key sent again with another request is a 422 naming the
// key, and changes nothing; the same request again is the first callback.
func TestIdempotencyKeyReusedWithAnotherBody(t *testing.T) {
	for _, refuse := range []bool{true, false} {
		env := servicetest.New(t)
		s, err := New(Config{RefuseDuplicates: refuse}, Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
		if err != nil {
			t.Fatal(err)
		}
		env.Go(s.Run)
		env.Relay(Topics...)
		key := map[string]string{"Idempotency-Key": "k-1"}
		body := map[string]any{"service": "support", "phone_number": "+14155550123", "subject": "Billing",
			"case_data": map[string]string{"order": "A-17"}}
		var first, again callbackView
		if res := env.DoWith("POST", "/v1/callbacks", key, body, &first); res.StatusCode != http.StatusCreated {
			t.Fatalf("first: %d", res.StatusCode)
		}
		if res := env.DoWith("POST", "/v1/callbacks", key, body, &again); res.StatusCode != http.StatusOK || again.ID != first.ID {
			t.Fatalf("the same again: %d %s", res.StatusCode, again.ID)
		}
		before := env.Stored()
		for _, other := range []map[string]any{
			{"service": "support", "phone_number": "+14155550999", "subject": "Billing", "case_data": map[string]string{"order": "A-17"}},
			{"service": "support", "phone_number": "+14155550123", "subject": "Billing", "case_data": map[string]string{"order": "B-99"}},
		} {
			var p problem
			if res := env.DoWith("POST", "/v1/callbacks", key, other, &p); res.StatusCode != http.StatusUnprocessableEntity || p.Field != "Idempotency-Key" {
				t.Fatalf("refuse duplicates %v, another body: %d %+v", refuse, res.StatusCode, p)
			}
		}
		// A claim taken for the other number is given back: nothing stays.
		if refuse {
			if res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550999"}, nil); res.StatusCode != http.StatusCreated {
				t.Fatalf("the other number afterwards: %d", res.StatusCode)
			}
		} else if after := env.Stored(); after != before {
			t.Fatalf("a refused request stored %d events", after-before)
		}
	}
}
