// Package availability is what a service can still book: its time buckets
// (wall-clock intervals in the service's zone, DST-safe), the open slots with
// room left between two instants given the callbacks booked per bucket, and
// the bookings themselves as folded from the scheduler's slot streams
// (scheduler-slot-<service>-<bucket start>). Shared by the scheduler (the
// authority, which appends to those streams) and intake (which refuses a
// full slot before the request is accepted). Pure but for Bookings' lock:
// no I/O, no clock. It must not import a service.
package availability

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ringback/ringback/libs/streams"
)

// A bucket is a wall-clock interval of the service's zone, [k·size,
// (k+1)·size) since local midnight, that never spans a change of UTC
// offset: a change is always a boundary. So on a 23-hour day the hour the
// clocks skip has no bucket, and on a 25-hour day the repeated hour has two
// (one before the change, one after), each as long as real time says
// (GMS's buckets are per weekday and wall-clock too). size divides a day.

// sinceMidnight is the wall-clock time of day of t in its own zone.
func sinceMidnight(t time.Time) time.Duration {
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
		time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
}

// BucketStart is the start of the bucket holding t.
func BucketStart(t time.Time, loc *time.Location, size time.Duration) time.Time {
	w := t.In(loc)
	s := w.Add(-(sinceMidnight(w) % size))
	// The wall-clock start is before the last change of offset (or in the
	// hour the clocks skipped): the bucket starts at the change.
	if zs, _ := w.ZoneBounds(); !zs.IsZero() && s.Before(zs) {
		s = zs
	}
	return s
}

// BucketEnd is the end of the bucket starting at start (a BucketStart).
func BucketEnd(start time.Time, loc *time.Location, size time.Duration) time.Time {
	w := start.In(loc)
	e := w.Add(size - sinceMidnight(w)%size)
	if _, ze := w.ZoneBounds(); !ze.IsZero() && ze.Before(e) {
		e = ze
	}
	return e
}

// StreamPrefix starts every slot stream. The scheduler owns them.
const StreamPrefix = streams.SchedulerSlot

// Stream names the slot stream of service's bucket starting at start.
func Stream(service string, start time.Time) string {
	return StreamPrefix + service + "-" + strconv.FormatInt(start.Unix(), 10)
}

// ParseStream is the service and bucket start a slot stream is named after.
func ParseStream(stream string) (service string, start int64, err error) {
	rest, ok := strings.CutPrefix(stream, StreamPrefix)
	i := strings.LastIndexByte(rest, '-')
	if !ok || i <= 0 {
		return "", 0, fmt.Errorf("slot stream %q: want %s<service>-<unix seconds>", stream, StreamPrefix)
	}
	start, err = strconv.ParseInt(rest[i+1:], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("slot stream %q: bucket start: %w", stream, err)
	}
	return rest[:i], start, nil
}
