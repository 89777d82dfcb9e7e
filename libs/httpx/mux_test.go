package httpx

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestProblemsForTheMuxsOwnErrors(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/x/{id}", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.PathValue("id")) })
	h := Problems(mux, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, c := range []struct {
		method, path string
		status       int
	}{{"GET", "/nope", 404}, {"DELETE", "/v1/x/1", 405}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		var p Problem
		if rec.Code != c.status || rec.Header().Get("Content-Type") != "application/problem+json" ||
			json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Status != c.status {
			t.Fatalf("%s %s: %d %q %q", c.method, c.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		if c.status == 405 && rec.Header().Get("Allow") == "" {
			t.Fatal("405 without Allow")
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/x/7", nil))
	if rec.Code != 200 || rec.Body.String() != "7" {
		t.Fatalf("routed: %d %q", rec.Code, rec.Body)
	}
}
