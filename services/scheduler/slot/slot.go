// Package slot is the pure domain of one time bucket of a service with a
// capacity, as the scheduler owns it: stream scheduler-slot-<service>-<bucket
// start> (named by libs/availability). A callback takes a place before its
// schedule names a due time in the bucket, and releases it once it leaves
// the bucket. Every take is appended with the stream's expected revision
// (eventstore.Execute), so of two replicas racing for the last place one
// sees the other's take on retry and is refused: the bucket is never
// overbooked. No I/O, no clock. It must not import a service.
package slot

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// State is a bucket as folded from its stream.
type State struct {
	Takes   int64            // SlotTaken events so far
	Holders map[string]int64 // callback id -> the take it holds by
}

// Commands.
type (
	// Take a place for a callback in a bucket holding at most Capacity.
	Take struct {
		CallbackID string
		Capacity   int
		At         time.Time
	}
	// Release the place a callback took by take number Take.
	Release struct {
		CallbackID string
		Take       int64
		At         time.Time
		Reason     string
	}
	// ReleaseAll releases many places at once (callback id -> take): the
	// callbacks of a bucket fall due together, and one append for all of
	// them is one read and one sync, not one per callback in a queue.
	ReleaseAll struct {
		Places map[string]int64
		At     time.Time
		Reason string
	}
)

// ErrFull: the bucket holds its capacity. Match with errors.Is; the
// *FullError says how full.
var ErrFull = errors.New("slot is full")

// FullError is a refused take.
type FullError struct{ Held, Capacity int }

func (e *FullError) Error() string {
	return fmt.Sprintf("slot is full (%d of %d)", e.Held, e.Capacity)
}

// Is makes errors.Is(err, ErrFull) true.
func (e *FullError) Is(target error) bool { return target == ErrFull }

// Decide turns a command into events, or refuses it.
func Decide(s State, c Command) ([]proto.Message, error) {
	switch c := c.(type) {
	case Take:
		if c.CallbackID == "" {
			return nil, errors.New("slot: take without a callback id")
		}
		// A callback back in a bucket it has not released yet keeps its
		// one place, under a new take, so the old release frees nothing.
		if _, held := s.Holders[c.CallbackID]; held {
			return []proto.Message{&callbackv1.SlotTaken{CallbackId: c.CallbackID, Take: s.Takes + 1, Renewed: true,
				At: timestamppb.New(c.At)}}, nil
		}
		if len(s.Holders) >= c.Capacity {
			return nil, &FullError{Held: len(s.Holders), Capacity: c.Capacity}
		}
		return []proto.Message{&callbackv1.SlotTaken{CallbackId: c.CallbackID, Take: s.Takes + 1, At: timestamppb.New(c.At)}}, nil
	case Release:
		if t, held := s.Holders[c.CallbackID]; !held || t != c.Take {
			return nil, nil // released already, or taken again since
		}
		return []proto.Message{&callbackv1.SlotReleased{CallbackId: c.CallbackID, Take: c.Take,
			At: timestamppb.New(c.At), Reason: c.Reason}}, nil
	case ReleaseAll:
		var out []proto.Message
		for _, id := range slices.Sorted(maps.Keys(c.Places)) {
			if t, held := s.Holders[id]; held && t == c.Places[id] {
				out = append(out, &callbackv1.SlotReleased{CallbackId: id, Take: t, At: timestamppb.New(c.At), Reason: c.Reason})
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("slot: unknown command %T", c)
}

// Evolve applies one event. It never fails and ignores unknown events.
func Evolve(s State, e proto.Message) State {
	switch e := e.(type) {
	case *callbackv1.SlotTaken:
		if s.Holders == nil {
			s.Holders = map[string]int64{}
		}
		s.Takes = e.Take
		s.Holders[e.CallbackId] = e.Take
	case *callbackv1.SlotReleased:
		if s.Holders[e.CallbackId] == e.Take {
			delete(s.Holders, e.CallbackId)
		}
	}
	return s
}
