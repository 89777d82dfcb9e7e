// Package timetravel is the HTTP side of reading a stream's state as it was
// at a past moment (issue 14, point 2): the ?at= query parameter of a
// resource's GET, and the headers that say which moment and which event the
// answer is as of. The fold itself is eventstore.LoadAt; the body is the
// resource's live presentation, unchanged, so a client reads a past state
// with the code that reads the present one.
package timetravel

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/ringback/ringback/libs/consistency"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/httpx"
)

// Param is the query parameter naming the moment, in RFC 3339.
const Param = "at"

// Headers of a past state: the moment asked for, and the revision and
// recorded time of the last event folded into the answer. The store
// position of that event is the consistency token (Ringback-Position).
const (
	AsOfHeader      = "Ringback-As-Of"
	RevisionHeader  = "Ringback-As-Of-Revision"
	EventTimeHeader = "Ringback-As-Of-Event-Time"
)

// Parse reads ?at= from r: ok is false when the request asks for the
// present. A moment that is not RFC 3339 or is after now is a 400 naming
// at: the future has no events yet, and answering the present for it would
// pass for a prediction.
func Parse(r *http.Request, now time.Time) (at time.Time, ok bool, err error) {
	q := r.URL.Query()
	if !q.Has(Param) {
		return time.Time{}, false, nil
	}
	v := q.Get(Param)
	at, err = time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, false, httpx.BadField(Param, "must be an RFC 3339 time such as 2026-03-02T09:30:00Z, not "+strconv.Quote(v))
	}
	if at.After(now) {
		return time.Time{}, false, httpx.BadField(Param, "is in the future (now is "+now.UTC().Format(time.RFC3339)+")")
	}
	return at.UTC(), true, nil
}

// Problem is the answer for an error of eventstore.LoadAt on resource
// (e.g. "callback 3f2…"): a moment before its first event is a 404 saying
// so, other errors pass through.
func Problem(err error, resource string) error {
	if errors.Is(err, eventstore.ErrBeforeStream) {
		return httpx.NotFound(resource + " did not exist yet at that time")
	}
	return err
}

// Set writes the headers of a past state a.
func Set[S any](w http.ResponseWriter, a eventstore.AsOf[S]) {
	h := w.Header()
	h.Set(AsOfHeader, a.At.UTC().Format(time.RFC3339Nano))
	h.Set(RevisionHeader, strconv.FormatUint(a.Last.Revision, 10))
	h.Set(EventTimeHeader, a.Last.Time.UTC().Format(time.RFC3339Nano))
	consistency.Set(w, a.Last.Position)
}
