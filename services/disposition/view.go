package disposition

import (
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/services/disposition/code"
)

// view is disposition's read model: the interactions it has heard of and
// that are not over yet, folded from its own streams. A PUT that races the
// accept it follows waits on it. A finished interaction is forgotten: the
// PUT reads its stream and finds it closed.
type view struct {
	mu   sync.Mutex
	live map[string]code.State // interaction id -> disposition
}

func newView() *view { return &view{live: map[string]code.State{}} }

func (v *view) apply(r eventstore.RecordedEvent, e proto.Message) {
	id := strings.TrimPrefix(r.Stream, code.StreamPrefix)
	v.mu.Lock()
	defer v.mu.Unlock()
	st := code.Evolve(v.live[id], e)
	if st.Opened && st.Closed {
		delete(v.live, id)
		return
	}
	v.live[id] = st
}

// known says whether the interaction's stream has anything yet.
func (v *view) known(id string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.live[id]
	return ok
}
