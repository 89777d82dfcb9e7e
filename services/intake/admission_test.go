package intake

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/serviceconf"
)

func TestAdmission(t *testing.T) {
	set, err := serviceconf.Parse([]byte(`
services:
  "*": {}
  support:
    countries: [US, GB]
    blocked_numbers: ["+1415555*", "+4420794601??"]
  sales: {}
`), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	withFile := limited(t, Config{RefuseDuplicates: true, ServiceSet: set})
	withList := limited(t, Config{RefuseDuplicates: true, Services: []string{"support", "sales"}})
	open := limited(t, Config{RefuseDuplicates: true})
	for _, tc := range []struct {
		name    string
		base    string
		service string
		number  string
		code    int
		field   string
	}{
		{"listed service", withFile.Server.URL, "sales", "+14155550100", http.StatusCreated, ""},
		{"unlisted service: * configures, does not admit", withFile.Server.URL, "svc-17", "+14155550101", http.StatusNotFound, "service"},
		{"service in --router.services", withList.Server.URL, "support", "+14155550102", http.StatusCreated, ""},
		{"service not in --router.services", withList.Server.URL, "svc-17", "+14155550103", http.StatusNotFound, "service"},
		{"no list: any name", open.Server.URL, "svc-17", "+14155550104", http.StatusCreated, ""},
		{"premium rate (issue 12)", open.Server.URL, "sales", "+19005551234", http.StatusBadRequest, "phone_number"},
		{"no such country code (issue 12)", open.Server.URL, "sales", "+999999999", http.StatusBadRequest, "phone_number"},
		{"emergency", open.Server.URL, "sales", "+44999", http.StatusBadRequest, "phone_number"},
		{"country of the service", withFile.Server.URL, "support", "+442079460000", http.StatusCreated, ""},
		{"country not of the service", withFile.Server.URL, "support", "+33142685300", http.StatusBadRequest, "phone_number"},
		{"the same country for another service", withFile.Server.URL, "sales", "+33142685300", http.StatusCreated, ""},
		{"blocked prefix", withFile.Server.URL, "support", "+14155550105", http.StatusForbidden, "phone_number"},
		{"blocked range", withFile.Server.URL, "support", "+442079460123", http.StatusForbidden, "phone_number"},
		{"blocked for one service only", withFile.Server.URL, "sales", "+14155550106", http.StatusCreated, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := create(t, tc.base, map[string]any{"service": tc.service, "phone_number": tc.number}, nil)
			if a.code != tc.code || a.field != tc.field {
				t.Fatalf("%s for %s: %d %q, want %d %q", tc.number, tc.service, a.code, a.field, tc.code, tc.field)
			}
		})
	} // What was refused wrote nothing: no callback, so no queue downstream
	// (the router makes a queue for a service when one is queued in it).
	if n := requested(t, withList.Store); n != 1 {
		t.Fatalf("%d callbacks stored with --router.services, want the 1 admitted", n)
	}
	if n := requested(t, withFile.Store); n != 4 {
		t.Fatalf("%d callbacks stored with the services file, want the 4 admitted", n)
	}
}

// The refusal of a blocked number does not tell which pattern blocked it.
func TestBlockedNumberRefusalHidesTheList(t *testing.T) {
	set, err := serviceconf.Parse([]byte("services:\n  support: {blocked_numbers: [\"+1415555*\"]}\n"), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	env := limited(t, Config{ServiceSet: set})
	var p map[string]any
	res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550105"}, &p)
	body := fmt.Sprint(p)
	if res.StatusCode != http.StatusForbidden || strings.Contains(body, "1415555") || strings.Contains(body, "*") {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
}
