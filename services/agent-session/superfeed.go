package agentsession

import (
	"context"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/services/agent-session/supervisor"
)

// superFeedEvery is how often at most the supervisors' pages are told of
// changes: a busy Monday's hundreds of events a second become four
// pushes, each a summary and the agents that changed.
const superFeedEvery = 250 * time.Millisecond

// boardKeep is how long an ended callback stays on the board: long enough
// for "completed today" in any time zone.
const boardKeep = 48 * time.Hour

// superFeed is the supervisors' board (issue 14) and its live feed. The
// board is folded by the service's one projection over the shared store
// (the desktops' too), which reads intake's callback streams for it: a
// fold of the store like every read model here, so every replica shows
// the same board, and no import of intake.
type superFeed struct {
	loc *time.Location
	now func() time.Time

	mu    sync.RWMutex
	board *supervisor.Board
	dirty chan struct{} // one pending "something changed"

	pubMu   sync.Mutex
	version uint64
	changed []string      // agents changed by the last publish
	notify  chan struct{} // closed at the next publish
	// summaries caches the summary of the current version per reach (a
	// supervisor's services), so that many pages cost one fold each.
	summaries map[string]supervisor.Summary
}

func newSuperFeed(loc *time.Location, now func() time.Time) *superFeed {
	f := &superFeed{loc: loc, now: now, board: supervisor.New(), dirty: make(chan struct{}, 1),
		notify: make(chan struct{}), summaries: map[string]supervisor.Summary{}}
	return f
}

// apply folds one event; it runs on the projection's goroutine.
func (f *superFeed) apply(r eventstore.RecordedEvent, m proto.Message) {
	f.mu.Lock()
	f.board.Apply(r.Stream, m)
	f.mu.Unlock()
	select {
	case f.dirty <- struct{}{}:
	default:
	}
}

// run publishes the changes, at most every superFeedEvery, until ctx is done.
func (f *superFeed) run(ctx context.Context) error {
	forget := time.NewTicker(time.Hour)
	defer forget.Stop()
	// A quiet board still moves: waits grow, and "today" turns at
	// midnight; a publish a minute says so.
	quiet := time.NewTicker(time.Minute)
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-quiet.C:
			f.publish()
		case <-forget.C:
			f.mu.Lock()
			f.board.Forget(f.now().Add(-boardKeep))
			f.mu.Unlock()
		case <-f.dirty:
			f.publish()
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(superFeedEvery):
			}
		}
	}
}

func (f *superFeed) publish() {
	f.mu.Lock()
	ids := f.board.TakeChanged()
	f.mu.Unlock()
	f.pubMu.Lock()
	f.version++
	f.changed = ids
	clear(f.summaries)
	close(f.notify)
	f.notify = make(chan struct{})
	f.pubMu.Unlock()
}

// current is the last publish: its version, the agents it changed, and
// the channel closed at the next one.
func (f *superFeed) current() (uint64, []string, <-chan struct{}) {
	f.pubMu.Lock()
	defer f.pubMu.Unlock()
	return f.version, f.changed, f.notify
}

// reach is who may see what on the board: nil covers every service (a
// supervisor of the whole site, or an open platform).
func reach(p agentauth.Principal) (key string, covers func(string) bool) {
	if p.Roles == 0 || p.Services == nil {
		return "*", nil
	}
	return strings.Join(p.Services, ","), p.Covers
}

// summary is the board for a reach, as of the last publish or later.
func (f *superFeed) summary(p agentauth.Principal) supervisor.Summary {
	key, covers := reach(p)
	f.pubMu.Lock()
	s, ok := f.summaries[key]
	ver := f.version
	f.pubMu.Unlock()
	if ok {
		return s
	}
	f.mu.RLock()
	s = f.board.Summarize(f.now(), f.loc, covers)
	f.mu.RUnlock()
	f.pubMu.Lock()
	if f.version == ver {
		f.summaries[key] = s
	}
	f.pubMu.Unlock()
	return s
}

// agents are the rows of ids (nil: every agent) p may see.
func (f *superFeed) agents(p agentauth.Principal, ids []string) []supervisor.AgentRow {
	_, covers := reach(p)
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.board.Agents(ids, covers)
}
