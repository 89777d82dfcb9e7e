package availability

import (
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// Bookings counts the places held per (service, bucket start), folded from
// the slot streams: a SlotTaken adds one (unless renewed), a SlotReleased
// takes one away. The scheduler appends a release once a callback leaves
// its bucket (falls due, is cancelled or moved), so the count is that of
// the callbacks pending in the bucket, plus those whose release is still
// on its way: it errs on the full side, never the overbooked one.
//
// Safe for concurrent use: Apply from a readmodel.Projection, Booked from
// HTTP handlers.
type Bookings struct {
	mu     sync.RWMutex
	counts map[bucketKey]int32
}

type bucketKey struct {
	service string
	start   int64 // unix seconds
}

// NewBookings is an empty fold.
func NewBookings() *Bookings { return &Bookings{counts: map[bucketKey]int32{}} }

// Held folds one event of a slot stream into the count of places held:
// an eventstore.Aggregate's Evolve, for a reader of one bucket's stream.
func Held(n int, e proto.Message) int {
	switch e := e.(type) {
	case *callbackv1.SlotTaken:
		if !e.Renewed {
			return n + 1
		}
	case *callbackv1.SlotReleased:
		return n - 1
	}
	return n
}

// Apply folds one event of a slot stream; others are ignored.
func (b *Bookings) Apply(r eventstore.RecordedEvent, e proto.Message) {
	delta := int32(Held(0, e))
	if delta == 0 {
		return
	}
	service, start, err := ParseStream(r.Stream)
	if err != nil {
		return // not a slot stream: nothing we count
	}
	k := bucketKey{service, start}
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := b.counts[k] + delta; n > 0 {
		b.counts[k] = n
	} else {
		delete(b.counts, k) // a released bucket costs no memory
	}
}

// Booked is the count of service's bucket starting at start.
func (b *Bookings) Booked(service string, start time.Time) int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return int(b.counts[bucketKey{service, start.Unix()}])
}

// Of is Booked for one service, as Slots wants it. It takes the lock per
// bucket, so a long walk does not hold off the fold.
func (b *Bookings) Of(service string) Booked {
	return func(start time.Time) int { return b.Booked(service, start) }
}

// Set puts a count, for benchmarks and tests that start from many
// bookings without folding a stream for each.
func (b *Bookings) Set(service string, start time.Time, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.counts[bucketKey{service, start.Unix()}] = int32(n)
}
