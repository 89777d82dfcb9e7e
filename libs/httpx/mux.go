package httpx

import (
	"log/slog"
	"net/http"
)

// Problems wraps mux so that its own answers to a request no route matches
// (404, 405 with its Allow header) are problem+json like every other error.
// Redirects and routed requests pass through untouched.
func Problems(mux *http.ServeMux, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r) // sets r.Pattern and path values
			return
		}
		h.ServeHTTP(&muxWriter{w: w, r: r, log: log}, r)
	})
}

// muxWriter turns an error status the mux writes into a problem, dropping
// the mux's text/plain body.
type muxWriter struct {
	w       http.ResponseWriter
	r       *http.Request
	log     *slog.Logger
	problem bool
}

func (m *muxWriter) Header() http.Header { return m.w.Header() }

func (m *muxWriter) WriteHeader(code int) {
	if code < 400 {
		m.w.WriteHeader(code)
		return
	}
	m.problem = true
	m.w.Header().Del("X-Content-Type-Options")
	detail := "no such route"
	if code == http.StatusMethodNotAllowed {
		detail = "method not allowed on this route; see Allow"
	}
	Write(m.w, m.r, m.log, newProblem(code, detail))
}

func (m *muxWriter) Write(b []byte) (int, error) {
	if m.problem {
		return len(b), nil
	}
	return m.w.Write(b)
}
