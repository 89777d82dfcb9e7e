package httpx

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDecodeJSONNamesTheFieldAtFault(t *testing.T) {
	type body struct {
		Phone string `json:"phone_number"`
		Count int    `json:"count"`
	}
	cases := []struct{ name, in, field string }{
		{"unknown field", `{"phone_number":"+1","nope":1}`, "nope"},
		{"wrong type", `{"count":"three"}`, "count"},
		{"malformed", `{"phone_number":`, "body"},
		{"empty", ``, "body"},
		{"trailing", `{} {}`, "body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(c.in))
			var b body
			err := DecodeJSON(httptest.NewRecorder(), r, &b)
			var p *Problem
			if !errors.As(err, &p) || p.Status != 400 || p.Field != c.field {
				t.Fatalf("err = %#v, want 400 on field %q", err, c.field)
			}
		})
	}
}

func TestWriteHidesUnknownErrors(t *testing.T) {
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/v1/x", nil)
	Write(rec, r, slog.New(slog.NewTextHandler(io.Discard, nil)), errors.New("disk on fire"))
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("code %d type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var p Problem
	_ = json.Unmarshal(rec.Body.Bytes(), &p)
	if strings.Contains(p.Detail, "disk") || p.Instance != "/v1/x" {
		t.Fatalf("problem leaks or lacks instance: %+v", p)
	}
}
