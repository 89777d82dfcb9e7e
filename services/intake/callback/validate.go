package callback

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ringback/ringback/libs/dialplan"
)

// FieldError names the request field at fault.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

var (
	// E.164: a plus, a country code not starting with 0, at most 15 digits.
	e164    = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	service = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
)

// Limits of a request; generous for a web form, small enough that one
// visitor cannot fill the store.
const (
	MaxSubject     = 200
	MaxCaseFields  = 50
	MaxCaseKey     = 64
	MaxCaseValue   = 2000
	MaxName        = 200
	MaxScheduleAge = 90 * 24 * time.Hour // how far ahead a callback may be asked for
	pastTolerance  = time.Minute         // clocks of visitors' browsers drift
)

// Input is a request as the visitor sent it.
type Input struct {
	Service     string
	PhoneNumber string
	Subject     string
	ContactName string
	CaseData    map[string]string
	DesiredTime string // RFC 3339, or empty for as soon as possible
	// Plan is what numbers may be called back; the zero Plan is the dial
	// plan's defaults. Emergency, premium and short numbers never are.
	Plan dialplan.Plan
}

// Validate checks a request at time now and returns its desired time.
func Validate(in Input, now time.Time) (desired time.Time, err error) {
	switch {
	case in.Service == "":
		return desired, &FieldError{"service", "is required"}
	case !service.MatchString(in.Service):
		return desired, &FieldError{"service", "must be lower-case letters, digits and dashes"}
	case in.PhoneNumber == "":
		return desired, &FieldError{"phone_number", "is required"}
	case !e164.MatchString(in.PhoneNumber):
		return desired, &FieldError{"phone_number", "must be an E.164 number such as +14155550123"}
	case !utf8.ValidString(in.Subject) || len(in.Subject) > MaxSubject:
		return desired, &FieldError{"subject", fmt.Sprintf("must be valid text of at most %d bytes", MaxSubject)}
	case !utf8.ValidString(in.ContactName) || len(in.ContactName) > MaxName:
		return desired, &FieldError{"contact_name", fmt.Sprintf("must be valid text of at most %d bytes", MaxName)}
	case len(in.CaseData) > MaxCaseFields:
		return desired, &FieldError{"case_data", fmt.Sprintf("must have at most %d fields", MaxCaseFields)}
	}
	if err := in.Plan.Check(in.PhoneNumber); err != nil {
		return desired, &FieldError{"phone_number", "cannot be called back: " +
			strings.TrimPrefix(err.Error(), "refused by the dial plan: ")}
	}
	for k, v := range in.CaseData {
		if k == "" || len(k) > MaxCaseKey || !utf8.ValidString(k) {
			return desired, &FieldError{"case_data", fmt.Sprintf("keys must be 1 to %d bytes of text", MaxCaseKey)}
		}
		if len(v) > MaxCaseValue || !utf8.ValidString(v) {
			return desired, &FieldError{"case_data." + k, fmt.Sprintf("must be text of at most %d bytes", MaxCaseValue)}
		}
	}
	if in.DesiredTime == "" {
		return desired, nil
	}
	desired, perr := time.Parse(time.RFC3339, in.DesiredTime)
	if perr != nil {
		return time.Time{}, &FieldError{"desired_time", "must be an RFC 3339 time such as 2026-11-25T15:00:00Z"}
	}
	if err := CheckDesired(desired, now, 0); err != nil {
		return time.Time{}, err
	}
	return desired, nil
}

// CheckDesired checks a wished time at now: not in the past (beyond the
// drift of a browser's clock), within MaxScheduleAge, and within
// bookAhead, the service's book_ahead, when that is not 0.
func CheckDesired(desired, now time.Time, bookAhead time.Duration) error {
	switch {
	case desired.Before(now.Add(-pastTolerance)):
		return &FieldError{"desired_time", "must not be in the past"}
	case desired.After(now.Add(MaxScheduleAge)):
		return &FieldError{"desired_time", "must be within 90 days"}
	case bookAhead > 0 && desired.After(now.Add(bookAhead)):
		return &FieldError{"desired_time", "must be within the service's booking horizon of " + span(bookAhead)}
	}
	return nil
}

// span says a duration as people book: in days when it is whole days.
func span(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		if n := d / (24 * time.Hour); n != 1 {
			return fmt.Sprintf("%d days", n)
		}
		return "1 day"
	}
	return d.String()
}
