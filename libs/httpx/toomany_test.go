package httpx

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
)

func TestTooManyForSendsRetryAfter(t *testing.T) {
	w := httptest.NewRecorder()
	p := TooManyFor("slow down", 7).With("limit", "client_address")
	Write(w, httptest.NewRequest("POST", "/v1/callbacks", nil), slog.New(slog.NewTextHandler(io.Discard, nil)), p)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if w.Code != 429 || w.Header().Get("Retry-After") != "7" || w.Header().Get("Content-Type") != "application/problem+json" ||
		body["retry_after"] != float64(7) || body["limit"] != "client_address" {
		t.Fatalf("%d %v %v", w.Code, w.Header(), body)
	}
}
