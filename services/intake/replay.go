package intake

import (
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/streams"
)

// CallbackStreamPrefix starts the name of every callback's stream.
const CallbackStreamPrefix = streams.IntakeCallback

// FoldCallback is GET /v1/callbacks/{id}'s document for a callback's
// stream, folded by this build's code without a running service: what
// `ringback replay check` compares with a platform's answer. ok is false
// when the events make no callback.
func FoldCallback(recs []eventstore.RecordedEvent, at time.Time) (doc any, ok bool) {
	a := eventstore.FoldUntil(recs, aggregate, at)
	if !a.State.Exists {
		return nil, false
	}
	return present(a.State), true
}
