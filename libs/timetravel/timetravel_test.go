package timetravel_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/libs/timetravel"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		query  string
		ok     bool
		want   time.Time
		status int // of the problem, 0 for none
	}{
		{"", false, time.Time{}, 0},
		{"at=2026-03-02T09:00:00Z", true, now.Add(-30 * time.Minute), 0},
		{"at=2026-03-02T10:00:00%2B01:00", true, now.Add(-30 * time.Minute), 0},
		{"at=2026-03-02T09:29:59.5Z", true, now.Add(-500 * time.Millisecond), 0},
		{"at=" + url.QueryEscape(now.Format(time.RFC3339)), true, now, 0},
		{"at=2026-03-02T09:30:01Z", false, time.Time{}, 400},
		{"at=2026-03-02", false, time.Time{}, 400},
		{"at=yesterday", false, time.Time{}, 400},
		{"at=", false, time.Time{}, 400},
	} {
		t.Run(tc.query, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/x?"+tc.query, nil)
			at, ok, err := timetravel.Parse(r, now)
			var p *httpx.Problem
			switch {
			case tc.status == 0 && err != nil:
				t.Fatalf("error %v", err)
			case tc.status != 0 && (!errors.As(err, &p) || p.Status != tc.status || p.Field != "at"):
				t.Fatalf("error %#v, want %d naming at", err, tc.status)
			case ok != tc.ok || !at.Equal(tc.want):
				t.Fatalf("%v %v, want %v %v", at, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestSetAndProblem(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	w := httptest.NewRecorder()
	timetravel.Set(w, eventstore.AsOf[int]{At: at, Events: 3, Last: eventstore.RecordedEvent{Revision: 2,
		Position: eventstore.Position{Commit: 7, Prepare: 7}, Time: at.Add(-time.Minute)}})
	h := w.Header()
	if h.Get("Ringback-As-Of") != "2026-03-02T09:00:00Z" || h.Get("Ringback-As-Of-Revision") != "2" ||
		h.Get("Ringback-As-Of-Event-Time") != "2026-03-02T08:59:00Z" || h.Get("Ringback-Position") == "" {
		t.Fatalf("headers %v", h)
	}
	var p *httpx.Problem
	if err := timetravel.Problem(fmt.Errorf("load: %w", eventstore.ErrBeforeStream), "callback c1"); !errors.As(err, &p) || p.Status != 404 {
		t.Fatalf("before the stream: %v", err)
	}
	other := errors.New("disk")
	if err := timetravel.Problem(other, "callback c1"); err != other { //nolint:errorlint // the very error, not a wrap of it
		t.Fatalf("other error: %v", err)
	}
}
