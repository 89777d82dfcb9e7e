package agentsession

import (
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/streams"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// InteractionStreamPrefix starts the name of every interaction's stream.
const InteractionStreamPrefix = streams.AgentInteraction

// ConfiguredFields are the fields of GET /v1/interactions/{id} that come
// from the service's configuration (the calling windows), not from the
// interaction's events: a fold without the configuration leaves them out.
var ConfiguredFields = []string{"calling_window", "contact_zones"}

// FoldInteraction is GET /v1/interactions/{id}'s document, but for
// ConfiguredFields, for an interaction's stream folded up to at by this
// build's code without a running service: what `ringback replay check`
// compares with a platform's answer. ok is false when the events make no
// interaction.
func FoldInteraction(recs []eventstore.RecordedEvent, at time.Time) (doc any, ok bool) {
	a := eventstore.FoldUntil(recs, interactions, at)
	if a.State.Phase == interaction.None {
		return nil, false
	}
	return presentInteraction(a.State), true
}
