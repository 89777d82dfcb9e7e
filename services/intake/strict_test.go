package intake

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestStrictInput (issue 16): control characters, invalid UTF-8 and another
// media type are refused with problem+json naming the field, and nothing
// is stored.
func TestStrictInput(t *testing.T) {
	env := start(t)
	cases := []struct {
		name, ct, body string
		status         int
		field          string
	}{
		{"header injection in contact_name", "application/json",
			`{"service":"support","phone_number":"+14155550123","contact_name":"Ann\r\nX-Injected: 1"}`, 400, "contact_name"},
		{"control in subject", "application/json",
			`{"service":"support","phone_number":"+14155550123","subject":"a\u001b[31mb"}`, 400, "subject"},
		{"newline in case data value", "application/json",
			`{"service":"support","phone_number":"+14155550123","case_data":{"order":"A\n17"}}`, 400, "case_data.order"},
		{"control in case data key", "application/json",
			`{"service":"support","phone_number":"+14155550123","case_data":{"or\u0000der":"A17"}}`, 400, "case_data"},
		{"invalid UTF-8", "application/json",
			"{\"service\":\"support\",\"phone_number\":\"+14155550123\",\"contact_name\":\"A\xffn\"}", 400, "body"},
		{"jsonx", "application/jsonx", `{"service":"support","phone_number":"+14155550123"}`, 415, "Content-Type"},
		{"form", "application/x-www-form-urlencoded", `service=support&phone_number=%2B14155550123`, 415, "Content-Type"},
		{"too large", "application/json", `{"service":"support","phone_number":"+14155550123","subject":"` +
			strings.Repeat("x", 2<<20) + `"}`, 413, "body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", env.Server.URL+"/v1/callbacks", strings.NewReader(c.body))
			req.Header.Set("Content-Type", c.ct)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var p problem
			_ = json.NewDecoder(res.Body).Decode(&p)
			if res.StatusCode != c.status || p.Field != c.field || res.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%d %q %+v", res.StatusCode, res.Header.Get("Content-Type"), p)
			}
		})
	}
	if n := env.Stored(); n != 0 {
		t.Fatalf("refused requests stored %d events", n)
	}
}
