// Package httpx holds the few HTTP conventions every service shares: errors
// as RFC 9457 problem details, strict JSON decoding, JSON answers.
package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"unicode/utf8"
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
	// Extensions are members beside the standard ones (RFC 9457 §3.2),
	// e.g. the free slots a refused booking may take instead. Their names
	// must not be those of the members above.
	Extensions map[string]any `json:"-"`
	// RetryAfter, when positive, is answered as the Retry-After header in
	// seconds (a 503 or 429 the client should retry).
	RetryAfter int `json:"-"`
}

// MarshalJSON writes the members and the extensions in one object.
func (p Problem) MarshalJSON() ([]byte, error) {
	type plain Problem // without this method
	b, err := json.Marshal(plain(p))
	if err != nil || len(p.Extensions) == 0 {
		return b, err
	}
	ext, err := json.Marshal(p.Extensions)
	if err != nil {
		return nil, fmt.Errorf("problem extensions: %w", err)
	}
	return append(append(b[:len(b)-1], ','), ext[1:]...), nil
}

// With is p with an extension member set.
func (p *Problem) With(name string, v any) *Problem {
	q := *p
	q.Extensions = map[string]any{name: v}
	for k, x := range p.Extensions {
		if k != name {
			q.Extensions[k] = x
		}
	}
	return &q
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

// Unprocessable is a 422 naming the field at fault: well formed, but it
// contradicts what the server already holds.
func Unprocessable(field, detail string) *Problem {
	p := newProblem(http.StatusUnprocessableEntity, detail)
	p.Field = field
	return p
}

// Forbidden is a 403.
func Forbidden(detail string) *Problem { return newProblem(http.StatusForbidden, detail) }

// Unauthorized is a 401.
func Unauthorized(detail string) *Problem { return newProblem(http.StatusUnauthorized, detail) }

// Unavailable is a 503.
func Unavailable(detail string) *Problem { return newProblem(http.StatusServiceUnavailable, detail) }

// Write answers err as application/problem+json. An error that is not a
// *Problem is a 500 whose cause is logged, never shown; unless a
// dependency did not answer (a deadline passed, or its connection failed):
// that is a 503 with Retry-After, which clients retry, since the same
// request will most likely pass once the store or bus answers again.
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var p *Problem
	if !errors.As(err, &p) {
		// The route pattern, not the path: paths carry phone numbers.
		if unanswered(err) {
			log.WarnContext(r.Context(), "request failed: a dependency did not answer", "method", r.Method, "route", r.Pattern, "err", err)
			p = Unavailable("the service could not reach its store or bus in time; try again")
			p.RetryAfter = 1
		} else {
			log.ErrorContext(r.Context(), "request failed", "method", r.Method, "route", r.Pattern, "err", err)
			p = newProblem(http.StatusInternalServerError, "internal error")
		}
	}
	q := *p
	q.Instance = r.URL.Path
	if q.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(q.RetryAfter))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(q.Status)
	_ = json.NewEncoder(w).Encode(q)
}

// unanswered says whether err is a dependency that did not answer: a
// deadline that passed, or a network operation (dial, read, write) that
// failed, anywhere in its chain.
func unanswered(err error) bool {
	var op *net.OpError
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &op)
}

// WriteJSON answers v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// MaxBody bounds a request body unless a route says otherwise (DecodeJSONLimit);
// no request of ours is near it.
const MaxBody = 1 << 20

// UnsupportedMediaType is a 415.
func UnsupportedMediaType(detail string) *Problem {
	p := newProblem(http.StatusUnsupportedMediaType, detail)
	p.Field = "Content-Type"
	return p
}

// TooLarge is a 413.
func TooLarge(detail string) *Problem {
	p := newProblem(http.StatusRequestEntityTooLarge, detail)
	p.Field = "body"
	return p
}

// TooMany is a 429.
func TooMany(detail string) *Problem { return newProblem(http.StatusTooManyRequests, detail) }

// TooManyFor is a 429 telling the client when to try again: Retry-After
// in whole seconds, rounded up (RFC 9110 §10.2.3), and the same as the
// member retry_after.
func TooManyFor(detail string, seconds int) *Problem {
	p := TooMany(detail).With("retry_after", seconds)
	p.RetryAfter = seconds
	return p
}

// CheckJSONType refuses a Content-Type other than application/json with an
// optional charset=utf-8 (RFC 8259 §8.1: JSON is UTF-8), with a 415. A
// request without a Content-Type is taken as JSON: curl -d and older
// clients send none.
func CheckJSONType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return UnsupportedMediaType("must be application/json")
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return UnsupportedMediaType("must be application/json, with no parameter but charset=utf-8")
		}
	}
	return nil
}

// DecodeJSON reads one JSON object of at most MaxBody bytes into v: see
// DecodeJSONLimit.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return DecodeJSONLimit(w, r, v, MaxBody)
}

// DecodeJSONLimit reads one JSON object into v, refusing another media type
// (415), a body over limit bytes (413), invalid UTF-8 (which encoding/json
// would silently replace), unknown fields, trailing data, and control
// characters in any string (CheckStrings), with a *Problem naming the field
// at fault.
func DecodeJSONLimit(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	if err := CheckJSONType(r); err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return TooLarge(fmt.Sprintf("must be at most %d bytes", limit))
		}
		return BadField("body", "could not be read")
	}
	if !utf8.Valid(body) {
		return BadField("body", "must be valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeProblem(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return BadField("body", "must hold a single JSON object")
	}
	return CheckStrings(v)
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
		return TooLarge("too large")
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
