package interaction

import (
	"errors"
	"fmt"
	"time"

	"github.com/ringback/ringback/libs/callwindow"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// ErrOutsideWindow: the contact may not be dialled now, in its local time.
var ErrOutsideWindow = errors.New("outside the contact's calling window")

// OutsideWindowError says, in the agent's words, why Call this contact is
// refused and when it may be.
type OutsideWindowError struct {
	Window callwindow.Window
	Zones  []*time.Location
	At     time.Time
	Next   time.Time // zero: no opening shared by the zones soon
}

func (e *OutsideWindowError) Error() string {
	msg := fmt.Sprintf("Outside the contact's calling window (%s %s)", e.Window, callwindow.Names(e.Zones))
	if e.Next.IsZero() {
		return msg + "; the contact's zones share no opening in the next two weeks"
	}
	z := e.Zones[0]
	next, at := e.Next.In(z), e.At.In(z)
	if next.YearDay() == at.YearDay() && next.Year() == at.Year() {
		return msg + "; next opening " + next.Format("15:04")
	}
	return msg + "; next opening " + next.Format("Mon 15:04")
}

func (e *OutsideWindowError) Is(target error) bool { return target == ErrOutsideWindow }

// outsideWindow refuses a dial at at outside the service's window in
// every zone of the contact of r.
func outsideWindow(at time.Time, ws callwindow.Services, r *callbackv1.CallbackRequest) error {
	if ws == nil {
		return nil
	}
	w := ws.Of(r.GetService())
	if w.AlwaysOpen() {
		return nil
	}
	zones := callwindow.Zones(r.GetPhoneNumber(), r.GetTimezone(), time.UTC)
	if callwindow.Allowed(at, zones, w) {
		return nil
	}
	next, _ := callwindow.NextOpening(at, zones, w)
	return &OutsideWindowError{Window: w, Zones: zones, At: at, Next: next}
}
