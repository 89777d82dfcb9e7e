package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
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

// TestWriteUnansweredIsRetryable: a request that failed because the store
// or bus did not answer is a 503 with Retry-After, which clients retry;
// its cause is still not shown.
func TestWriteUnansweredIsRetryable(t *testing.T) {
	cases := map[string]error{
		"deadline":   fmt.Errorf("append intake-callback-1: outcome unknown: %w", context.DeadlineExceeded),
		"connection": fmt.Errorf("read x: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}),
	}
	for name, err := range cases {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Write(rec, httptest.NewRequest("POST", "/v1/callbacks", nil), slog.New(slog.DiscardHandler), err)
			var p Problem
			_ = json.Unmarshal(rec.Body.Bytes(), &p)
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" ||
				rec.Header().Get("Content-Type") != "application/problem+json" || strings.Contains(p.Detail, "intake-callback") {
				t.Fatalf("code %d, Retry-After %q, type %q, %+v", rec.Code, rec.Header().Get("Retry-After"), rec.Header().Get("Content-Type"), p)
			}
		})
	}
}

func TestDecodeJSONStrictInput(t *testing.T) {
	type body struct {
		Name  string            `json:"contact_name"`
		Notes string            `json:"notes" text:"multiline"`
		Case  map[string]string `json:"case_data"`
	}
	cases := []struct {
		name, ct, in string
		status       int
		field        string
	}{
		{"ok", "application/json", `{"contact_name":"Ann","notes":"a\n\tb"}`, 0, ""},
		{"charset", "application/json; charset=UTF-8", `{}`, 0, ""},
		{"no type", "", `{}`, 0, ""},
		{"jsonx", "application/jsonx", `{}`, 415, "Content-Type"},
		{"form", "application/x-www-form-urlencoded", `a=b`, 415, "Content-Type"},
		{"latin1", "application/json; charset=iso-8859-1", `{}`, 415, "Content-Type"},
		{"crlf in name", "application/json", `{"contact_name":"Ann\r\nX-Injected: 1"}`, 400, "contact_name"},
		{"cr in notes", "application/json", `{"notes":"a\rb"}`, 400, "notes"},
		{"nul in notes", "application/json", `{"notes":"a\u0000b"}`, 400, "notes"},
		{"c1 in name", "application/json", `{"contact_name":"a\u0085b"}`, 400, "contact_name"},
		{"control in case key", "application/json", `{"case_data":{"a\u001bb":"x"}}`, 400, "case_data"},
		{"control in case value", "application/json", `{"case_data":{"order":"x\ny"}}`, 400, "case_data.order"},
		{"invalid utf-8", "application/json", "{\"contact_name\":\"A\xffn\"}", 400, "body"},
		{"too large", "application/json", `{"notes":"` + strings.Repeat("x", 200) + `"}`, 413, "body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(c.in))
			if c.ct != "" {
				r.Header.Set("Content-Type", c.ct)
			}
			var b body
			err := DecodeJSONLimit(httptest.NewRecorder(), r, &b, 100)
			if c.status == 0 {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var p *Problem
			if !errors.As(err, &p) || p.Status != c.status || p.Field != c.field {
				t.Fatalf("err = %#v, want %d on field %q", err, c.status, c.field)
			}
		})
	}
}

func TestParseTimeRefusesOffsetsRFC3339Does(t *testing.T) {
	for _, s := range []string{"2026-12-04T10:00:00-24:00", "2026-12-04T10:00:00+24:00", "tomorrow", ""} {
		var p *Problem
		if _, err := ParseTime("time", s); !errors.As(err, &p) || p.Field != "time" {
			t.Errorf("%q: %v", s, err)
		}
	}
	if _, err := ParseTime("time", "2026-12-04T10:00:00-23:59"); err != nil {
		t.Fatal(err)
	}
}

func TestProblemExtensions(t *testing.T) {
	p := Conflict("slot is full").With("slots", []int{1, 2})
	b, err := json.Marshal(*p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"type":"about:blank","title":"Conflict","status":409,"detail":"slot is full","slots":[1,2]}`; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if b, _ := json.Marshal(*Conflict("x")); strings.Contains(string(b), "Extensions") {
		t.Errorf("extensions shown: %s", b)
	}
}
