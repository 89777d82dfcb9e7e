package agentsession

import (
	"sync"

	"github.com/ringback/ringback/libs/eventstore"
)

// streamBuffer is how many pushes a desktop may be behind before the hub
// drops it (it then resyncs from the store). A desktop hears of a handful
// of events a minute; 256 rides out a stalled connection of several
// seconds at a burst's pace, at 2 KiB of pointers per desktop.
const streamBuffer = 256

// hub fans the one read-model subscription out to the connected desktops
// (issue 10): the projection's fold calls publish for every event it
// folds; each event stream subscribes for its agent. publish never blocks:
// a desktop whose buffer is full is dropped and told so (lost), so one slow
// browser cannot hold back the fold, and with it every other desktop and
// the service's loops. Safe for concurrent use.
type hub struct {
	mu   sync.Mutex
	pos  eventstore.Position      // the last event published
	subs map[string][]*subscriber // agent -> its connected streams
	// done is closed when the service stops: the streams end with it
	// rather than outlive the fold that feeds them.
	done chan struct{}
	once sync.Once
}

// frame is one server-sent event, rendered once for every stream of the
// agent.
type frame struct {
	pos  eventstore.Position
	data []byte // id, event and data lines, ready to write
}

// subscriber is one connected stream. frames is never closed; lost is
// closed when the hub dropped the subscriber, after which frames receives
// nothing more (what it holds is still in order and valid).
type subscriber struct {
	agent  string
	frames chan *frame
	lost   chan struct{}
}

func newHub() *hub { return &hub{subs: map[string][]*subscriber{}, done: make(chan struct{})} }

// close ends every stream, now and to come (they select on done).
func (h *hub) close() { h.once.Do(func() { close(h.done) }) }

// subscribe adds a stream for agent. It returns the position from which
// the stream receives every event: those after it come as frames, those up
// to it are in the view already (the fold applies an event to the view
// before it publishes it).
func (h *hub) subscribe(agent string, buffer int) (*subscriber, eventstore.Position) {
	s := &subscriber{agent: agent, frames: make(chan *frame, buffer), lost: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[agent] = append(h.subs[agent], s)
	return s, h.pos
}

// unsubscribe removes s; removing it twice, or after it was dropped, is
// harmless.
func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.remove(s)
}

func (h *hub) remove(s *subscriber) bool {
	list := h.subs[s.agent]
	for i, x := range list {
		if x == s {
			list = append(list[:i:i], list[i+1:]...)
			if len(list) == 0 {
				delete(h.subs, s.agent)
			} else {
				h.subs[s.agent] = list
			}
			return true
		}
	}
	return false
}

// publish hands the event at pos to agent's streams. render is called
// only when the agent has a stream, outside the hub's lock (it reads the
// view), at most once. It returns how many streams were dropped as too slow.
func (h *hub) publish(pos eventstore.Position, agent string, render func(eventstore.Position) []byte) (dropped int) {
	h.mu.Lock()
	if len(h.subs[agent]) == 0 {
		h.pos = pos
		h.mu.Unlock()
		return 0
	}
	h.mu.Unlock()
	// A stream that subscribes while we render gets h.pos from before this
	// event, so it must and does receive the frame below.
	f := &frame{pos: pos, data: render(pos)}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pos = pos
	if f.data == nil { // nothing the desktop shows
		return 0
	}
	for _, s := range append([]*subscriber(nil), h.subs[agent]...) {
		select {
		case s.frames <- f:
		default:
			h.remove(s)
			close(s.lost)
			dropped++
		}
	}
	return dropped
}

// streams says how many streams are connected.
func (h *hub) streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, l := range h.subs {
		n += len(l)
	}
	return n
}
