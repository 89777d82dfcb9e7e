// Package gms is the wire format of the Callback API of Genesys Mobile
// Services (GMS 8.5, /genesys/1 and /genesys/2), as ringback answers it so
// that a web site built for GMS can be pointed at ringback: its times, its
// error body, its phone numbers as sites send them, and its availability
// queries and answers. Shared by intake (create, read, cancel, reschedule)
// and the scheduler (availability, from its bookings). Pure: no I/O, no
// clock. It must not import a service.
package gms

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/ringback/ringback/libs/availability"
	"github.com/ringback/ringback/libs/httpx"
)

// The exception names GMS puts in its error bodies: sites built for GMS
// tell a refused time slot from a missing service by them (the end of the
// name), so ringback answers the same ones.
const (
	ExceptionCallback     = "com.genesyslab.gsg.services.callback.CallbackException"
	ExceptionAvailability = "com.genesyslab.gsg.services.callback.CallbackExceptionAvailability"
	ExceptionResource     = "com.genesyslab.gsg.services.callback.CallbackExceptionResource"
)

// timeLayout is how GMS writes a time: UTC, milliseconds, Z.
const timeLayout = "2006-01-02T15:04:05.000Z"

// FormatTime writes t as GMS does, 2026-12-07T09:00:00.000Z.
func FormatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// ParseTime reads an ISO 8601 time with its zone (Z or an offset),
// fractional seconds optional, as GMS sites send _desired_time. A time
// without a zone is refused: GMS's are UTC, and a guess would call the
// visitor hours off.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if _, off := t.Zone(); err != nil || off <= -24*3600 || off >= 24*3600 {
		return time.Time{}, errors.New("must be an ISO 8601 time in UTC such as 2026-12-07T09:00:00.000Z")
	}
	return t, nil
}

// Error is GMS's error body: code, phrase, message and exception (the
// names GMS's client libraries decode), plus field, which names the
// request's field at fault in GMS's own names (_customer_number,
// _desired_time, a case-data key, a query parameter), and, when a time
// slot is refused, the free slots GMS proposes instead. Code is the HTTP
// status.
type Error struct {
	Status       int            `json:"-"`
	Code         int            `json:"code"`
	Phrase       string         `json:"phrase"`
	Message      string         `json:"message"`
	Exception    string         `json:"exception"`
	Field        string         `json:"field,omitempty"`
	Availability map[string]int `json:"availability,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// NewError is an error of status, in GMS's shape.
func NewError(status int, field, message, exception string) *Error {
	if exception == "" {
		exception = ExceptionCallback
	}
	return &Error{Status: status, Code: status, Phrase: http.StatusText(status), Message: message,
		Exception: exception, Field: field}
}

// BadField is a 400 naming the field at fault.
func BadField(field, message string) *Error {
	return NewError(http.StatusBadRequest, field, message, "")
}

// Write answers e as JSON.
func Write(w http.ResponseWriter, e *Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(e)
}

// Proposed are free slots as GMS proposes them beside a refused time: each
// slot's start, in GMS's format, with the places left.
func Proposed(slots []availability.SlotView) map[string]int {
	out := make(map[string]int, len(slots))
	for _, s := range slots {
		out[FormatTime(s.Start)] = s.Free
	}
	return out
}

// ErrNational is a number without its country code when no default
// country is configured.
var ErrNational = errors.New("must carry its country code (+ or 00 and the country code), since no default country is configured")

// Number is a phone number as a GMS site sends it (what the visitor typed:
// spaces, dashes, brackets, a national number, 00 for +) in E.164.
// region (ISO 3166, "US") is the country of a national number; "" refuses
// those. It checks the form only: whether the number may be called back is
// the dial plan's to say.
func Number(raw, region string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", errors.New("is required")
	}
	if rest, ok := strings.CutPrefix(s, "00"); ok && region == "" {
		s = "+" + rest
	}
	if !strings.HasPrefix(s, "+") && region == "" {
		return "", ErrNational
	}
	if region == "" {
		region = "ZZ" // international form: no default needed
	}
	num, err := phonenumbers.Parse(s, region)
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return "", errors.New("is not a phone number")
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// FromProblem is a problem of ringback's shared paths in GMS's shape: its
// field in GMS's names (names maps ours to GMS's for the request at hand; a
// case-data key, case_data.<key>, is the key), an unknown service as GMS's
// CallbackExceptionResource, and the free slots of a refused time as GMS's
// proposed availability.
func FromProblem(p *httpx.Problem, names map[string]string) *Error {
	field := p.Field
	if n, ok := names[field]; ok {
		field = n
	} else if k, ok := strings.CutPrefix(field, "case_data."); ok {
		field = k
	}
	e := NewError(p.Status, field, p.Detail, "")
	if p.Status == http.StatusNotFound && p.Field == "service" {
		e.Exception = ExceptionResource
	}
	if slots, ok := p.Extensions["slots"].([]availability.SlotView); ok {
		e.Exception, e.Availability = ExceptionAvailability, Proposed(slots)
	}
	return e
}

// Handle answers h's errors in GMS's shape: an *Error as it is, a problem
// through FromProblem; any other error is h's caller's to answer (a 500,
// logged and never shown).
func Handle(h httpx.Func, names map[string]string) httpx.Func {
	return func(w http.ResponseWriter, r *http.Request) error {
		err := h(w, r)
		var (
			g *Error
			p *httpx.Problem
		)
		switch {
		case err == nil:
			return nil
		case errors.As(err, &g):
		case errors.As(err, &p):
			g = FromProblem(p, names)
		default:
			return err
		}
		Write(w, g)
		return nil
	}
}
