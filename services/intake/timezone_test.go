package intake

import (
	"net/http"
	"testing"

	"github.com/ringback/ringback/libs/servicetest"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// The browser's zone travels with the request, for the calling window; a
// name that is no IANA zone is refused naming the field.
func TestTimezoneIsCarriedOrRefused(t *testing.T) {
	env := start(t)
	for _, bad := range []string{"Mars/Olympus", "Local", "../etc/passwd", "+01:00"} {
		var p problem
		res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550123", "timezone": bad}, &p)
		if res.StatusCode != 400 || p.Field != "timezone" {
			t.Errorf("timezone %q: %d %+v", bad, res.StatusCode, p)
		}
	}
	if n := env.Stored(); n != 0 {
		t.Fatalf("bad requests stored %d events", n)
	}
	var cb callbackView
	res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550123", "timezone": "Europe/London"}, &cb)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d", res.StatusCode)
	}
	req := servicetest.WaitEvent[*callbackv1.CallbackRequested](env, "intake-callback-"+cb.ID)
	if req.Request.GetTimezone() != "Europe/London" {
		t.Fatalf("request %+v", req.Request)
	}
}
