package intake

import (
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/servicetest"
)

// With the server's key, the callback id of an Idempotency-Key is the same
// on every replica sharing the key, and not the one anybody can compute
// from the key alone (issue 16).
func TestCallbackIDsAreKeyedWithTheServersSecret(t *testing.T) {
	idOf := func(key []byte) string {
		env := servicetest.New(t)
		s, err := New(Config{RefuseDuplicates: true, IDKey: key}, Deps{Store: env.Store, Subscribers: env.Subscribers(),
			Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux})
		if err != nil {
			t.Fatal(err)
		}
		env.Go(s.Run)
		env.Relay()
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
