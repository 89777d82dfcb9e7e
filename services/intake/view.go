package intake

import (
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/services/intake/callback"
)

// view is intake's read model: the open callback of each number and service,
// for the duplicate check. Folded from intake's own streams, so it survives
// a restart.
type view struct {
	mu   sync.Mutex
	open map[string]string         // service + number -> callback id
	all  map[string]callback.State // open callback id -> state
}

func newView() *view { return &view{open: map[string]string{}, all: map[string]callback.State{}} }

func contactKey(service, number string) string { return service + "\x00" + number }

func (v *view) apply(r eventstore.RecordedEvent, e proto.Message) {
	v.mu.Lock()
	defer v.mu.Unlock()
	id := r.Stream[len("intake-callback-"):]
	st := callback.Evolve(v.all[id], e)
	key := contactKey(st.Request.GetService(), st.Request.GetPhoneNumber())
	if st.Open() {
		v.all[id], v.open[key] = st, id
		return
	}
	// A closed callback never changes again: forget it.
	delete(v.all, id)
	if v.open[key] == id {
		delete(v.open, key)
	}
}

// openFor is the open callback for a number and service, if any.
func (v *view) openFor(service, number string) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	id, ok := v.open[contactKey(service, number)]
	return id, ok
}
