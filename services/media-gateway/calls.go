package mediagateway

import (
	"context"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/services/media-gateway/call"
	"github.com/ringback/ringback/services/media-gateway/telephony"
)

// calls is the gateway's view of its calls: every unfinished attempt folded
// from its own streams, and the SIP handles of those this process holds.
type calls struct {
	mu      sync.Mutex
	pending map[string]call.State // not final
	live    map[string]*live
	wake    chan struct{} // closed when a live call is released
}

// live is a call this process is placing or holds.
type live struct {
	cancel context.CancelFunc // stops a dial still ringing (CANCEL)
	call   telephony.Call     // set once connected
	hangup bool               // End Call arrived before the call connected
	// recording is the file being recorded, for RecordingStopped.
	recording string
	// party is the third party asked for, for the events about them;
	// guarded by calls.mu.
	party call.Party
}

func newCalls() *calls {
	return &calls{pending: map[string]call.State{}, live: map[string]*live{}, wake: make(chan struct{})}
}

func (c *calls) apply(r eventstore.RecordedEvent, e proto.Message) {
	id := strings.TrimPrefix(r.Stream, call.StreamPrefix)
	c.mu.Lock()
	defer c.mu.Unlock()
	st := call.Evolve(c.pending[id], e)
	if st.Status.Final() {
		delete(c.pending, id)
		return
	}
	c.pending[id] = st
}

// byOwner lists the unfinished calls by the instance that owns them.
func (c *calls) byOwner() map[string][]call.State {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]call.State{}
	for _, st := range c.pending {
		out[st.Instance] = append(out[st.Instance], st)
	}
	return out
}

// isLive says whether this process places or holds the call.
func (c *calls) isLive(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live[id] != nil
}

// liveCount is how many calls this process places or holds.
func (c *calls) liveCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.live)
}

// changed is closed the next time a live call is released.
func (c *calls) changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wake
}

func (c *calls) hold(id string, l *live) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live[id] = l
}

func (c *calls) connected(id string, sc telephony.Call) (hangup bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.live[id]; l != nil {
		l.call = sc
		return l.hangup
	}
	return false
}

func (c *calls) release(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.live, id)
	close(c.wake)
	c.wake = make(chan struct{})
}

// end stops a call this process holds: hang up if connected, cancel if it
// still rings. It says whether the call was here.
func (c *calls) end(ctx context.Context, id string) (bool, error) {
	c.mu.Lock()
	l := c.live[id]
	if l == nil {
		c.mu.Unlock()
		return false, nil
	}
	sc := l.call
	if sc == nil {
		l.hangup = true
		l.cancel()
	}
	c.mu.Unlock()
	if sc != nil {
		return true, sc.Hangup(ctx)
	}
	return true, nil
}

// setParty records who the third party is before they are rung; it says
// false when a party is already asked for.
func (c *calls) setParty(id string, p call.Party) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.live[id]
	if l == nil || l.party.Phase != call.NoParty {
		return false
	}
	p.Phase = call.PartyRung
	l.party = p
	return true
}

// party is the third party of a call held here.
func (c *calls) party(id string) call.Party {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.live[id]; l != nil {
		return l.party
	}
	return call.Party{}
}

// clearParty forgets the third party once they left.
func (c *calls) clearParty(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.live[id]; l != nil {
		l.party = call.Party{}
	}
}

// connectedCall is the live handle of a connected call held here, or nil.
func (c *calls) connectedCall(id string) *live {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.live[id]; l != nil && l.call != nil {
		return l
	}
	return nil
}
