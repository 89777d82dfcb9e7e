// Package httpx holds the few HTTP conventions every service shares: errors
// as RFC 9457 problem details, strict JSON decoding, JSON answers.
package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// Problem is an RFC 9457 problem detail; it is also an error, so handlers
// return it and Write renders it. Field names the request field at fault.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Field    string `json:"field,omitempty"`
	Instance string `json:"instance,omitempty"`
}

func (p *Problem) Error() string {
	if p.Field != "" {
		return fmt.Sprintf("%s: %s", p.Field, p.Detail)
	}
	return p.Detail
}

func newProblem(status int, detail string) *Problem {
	return &Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail}
}

// BadField is a 400 naming the field at fault.
func BadField(field, detail string) *Problem {
	p := newProblem(http.StatusBadRequest, detail)
	p.Field = field
	return p
}

// NotFound is a 404.
func NotFound(detail string) *Problem { return newProblem(http.StatusNotFound, detail) }

// Conflict is a 409: the request is valid but the resource's state forbids it.
func Conflict(detail string) *Problem { return newProblem(http.StatusConflict, detail) }

// Forbidden is a 403.
func Forbidden(detail string) *Problem { return newProblem(http.StatusForbidden, detail) }

// Unauthorized is a 401.
func Unauthorized(detail string) *Problem { return newProblem(http.StatusUnauthorized, detail) }

// Unavailable is a 503.
func Unavailable(detail string) *Problem { return newProblem(http.StatusServiceUnavailable, detail) }

// Write answers err as application/problem+json. An error that is not a
// *Problem is a 500 whose cause is logged, never shown.
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var p *Problem
	if !errors.As(err, &p) {
		// The route pattern, not the path: paths carry phone numbers.
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "route", r.Pattern, "err", err)
		p = newProblem(http.StatusInternalServerError, "internal error")
	}
	q := *p
	q.Instance = r.URL.Path
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(q.Status)
	_ = json.NewEncoder(w).Encode(q)
}

// WriteJSON answers v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// maxBody bounds a request body; no request of ours is near it.
const maxBody = 1 << 20

// DecodeJSON reads one JSON object into v, refusing unknown fields, trailing
// data and oversize bodies, with a *Problem naming the field at fault.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return BadField("Content-Type", "must be application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeProblem(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return BadField("body", "must hold a single JSON object")
	}
	return nil
}

func decodeProblem(err error) *Problem {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &typeErr):
		return BadField(typeErr.Field, fmt.Sprintf("must be %s", typeErr.Type))
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return BadField("body", "malformed JSON")
	case errors.Is(err, io.EOF):
		return BadField("body", "empty body")
	case errors.As(err, &maxErr):
		return BadField("body", "too large")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return BadField(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "unknown field")
	}
	return BadField("body", err.Error())
}

// Func is a handler that returns its error instead of writing it.
type Func func(http.ResponseWriter, *http.Request) error

// Handle adapts fn, writing its error with Write.
func Handle(log *slog.Logger, fn Func) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			Write(w, r, log, err)
		}
	}
}
