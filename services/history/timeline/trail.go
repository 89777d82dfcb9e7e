package timeline

import (
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/proto/catalog"
	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
)

// Entry is one line of a callback's audit trail.
type Entry struct {
	ID     string // the original event's id
	Type   string // fully-qualified protobuf name
	Source string // the stream that recorded the original event
	Time   time.Time
	Event  proto.Message // nil when this binary does not know the type
	seq    int
}

// Recorded is an event of a history stream with its id and stream.
type Recorded struct {
	ID     string
	Stream string
	Event  proto.Message
}

// Trail lists a history stream as the audit trail: the copied events and the
// notes, in the order they occurred, ties in recording order.
func Trail(recs []Recorded) []Entry {
	out := make([]Entry, 0, len(recs))
	for _, r := range recs {
		switch e := r.Event.(type) {
		case *historyv1.InteractionEventRecorded:
			inner, err := catalog.Decode(e.EventType, e.Data)
			if err != nil {
				inner = nil
			}
			out = append(out, Entry{ID: e.EventId, Type: e.EventType, Source: e.Source,
				Time: e.OccurredAt.AsTime(), Event: inner, seq: len(out)})
		case *historyv1.NoteAdded, *historyv1.CaseDataUpdated:
			at := e.(interface{ GetAt() *timestamppb.Timestamp }).GetAt().AsTime()
			out = append(out, Entry{ID: r.ID, Type: catalog.TypeName(e), Source: r.Stream, Time: at, Event: e, seq: len(out)})
		}
	}
	slices.SortStableFunc(out, func(a, b Entry) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	return out
}
