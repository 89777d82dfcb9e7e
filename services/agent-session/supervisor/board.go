// Package supervisor is the supervisor's live board (issue 14): per
// service, the callbacks scheduled by hour, due and waiting (with the
// oldest wait), offered, in progress and completed today by outcome, and
// every agent's state and reason with the time in it.
//
// It is folded from the shared store's streams by their proto events
// alone, importing no other service: intake's callbacks
// (intake-callback-<id>), and agent-session's own interactions and agents.
// Pure: the caller folds events in (Apply) from one goroutine and guards
// reads (Summary) against it.
package supervisor

import (
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/streams"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/agent-session/agent"
)

// Stream prefixes the board folds.
const (
	CallbackPrefix    = streams.IntakeCallback
	InteractionPrefix = streams.AgentInteraction
	AgentPrefix       = streams.AgentSession
)

type callback struct {
	service     string
	state       callbackv1.CallbackState
	scheduled   time.Time // when it is due, while scheduled
	since       time.Time // when it entered its state
	agent       string
	disposition string
	offeredTo   string // the agent an open offer shows it to; "" when none
}

// Board is the folded view.
type Board struct {
	callbacks map[string]*callback
	offers    map[string]string // open offer: interaction id -> callback id
	agents    map[string]agent.State
	// changed holds the agents changed since the last TakeChanged, so a
	// live feed sends those rows only, not 10,000 each time.
	changed map[string]bool
}

// New is an empty board.
func New() *Board {
	return &Board{callbacks: map[string]*callback{}, offers: map[string]string{},
		agents: map[string]agent.State{}, changed: map[string]bool{}}
}

// Apply folds one event of stream. It never fails and ignores what it
// does not show.
func (b *Board) Apply(stream string, m proto.Message) {
	switch {
	case strings.HasPrefix(stream, CallbackPrefix):
		b.applyCallback(strings.TrimPrefix(stream, CallbackPrefix), m)
	case strings.HasPrefix(stream, InteractionPrefix):
		b.applyInteraction(m)
	case strings.HasPrefix(stream, AgentPrefix):
		id := strings.TrimPrefix(stream, AgentPrefix)
		b.agents[id] = agent.Evolve(b.agents[id], m)
		b.changed[id] = true
	}
}

func (b *Board) applyCallback(id string, m proto.Message) {
	if e, ok := m.(*callbackv1.CallbackRequested); ok {
		r := e.GetRequest()
		c := &callback{service: r.GetService(), state: callbackv1.CallbackState_CALLBACK_STATE_QUEUED,
			since: r.GetRequestedAt().AsTime()}
		// As intake decides: a wish after the request is scheduled.
		if d := r.GetDesiredTime(); d != nil && d.AsTime().After(c.since) {
			c.state, c.scheduled = callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED, d.AsTime()
		}
		b.callbacks[id] = c
		return
	}
	c, ok := b.callbacks[id]
	if !ok {
		return
	}
	switch e := m.(type) {
	case *callbackv1.CallbackRescheduleRequested:
		// As intake folds it: scheduled for a later wish, else due now;
		// the router withdraws an open offer.
		at := e.GetAt().AsTime()
		c.state, c.since, c.offeredTo = callbackv1.CallbackState_CALLBACK_STATE_QUEUED, at, ""
		if d := e.GetDesiredTime(); d != nil && d.AsTime().After(at) {
			c.state, c.scheduled = callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED, d.AsTime()
		}
	case *callbackv1.CallbackCancelled:
		c.state, c.since, c.offeredTo = callbackv1.CallbackState_CALLBACK_STATE_CANCELLED, e.GetAt().AsTime(), ""
	case *callbackv1.CallbackStateChanged:
		if e.State != c.state {
			c.since = e.GetAt().AsTime()
		}
		c.state = e.State
		if e.ScheduledFor != nil {
			c.scheduled = e.ScheduledFor.AsTime()
		}
		if e.AgentId != "" {
			c.agent = e.AgentId
		}
		if e.Disposition != "" {
			c.disposition = e.Disposition
		}
		if c.state != callbackv1.CallbackState_CALLBACK_STATE_QUEUED {
			c.offeredTo = ""
		}
	}
}

func (b *Board) applyInteraction(m proto.Message) {
	switch e := m.(type) {
	case *agentv1.InteractionPresented:
		if c, ok := b.callbacks[e.CallbackId]; ok && c.state == callbackv1.CallbackState_CALLBACK_STATE_QUEUED {
			c.offeredTo = e.AgentId
			b.offers[e.InteractionId] = e.CallbackId
		}
	case *agentv1.InteractionAccepted:
		b.closeOffer(e.InteractionId)
	case *agentv1.InteractionWithdrawn:
		b.closeOffer(e.InteractionId)
	case *agentv1.InteractionDone:
		b.closeOffer(e.InteractionId)
	}
}

func (b *Board) closeOffer(interaction string) {
	if id, ok := b.offers[interaction]; ok {
		if c, ok := b.callbacks[id]; ok {
			c.offeredTo = ""
		}
		delete(b.offers, interaction)
	}
}

// Forget drops the callbacks that ended before t (completed or
// cancelled): what "today" no longer shows need not stay in memory.
func (b *Board) Forget(t time.Time) int {
	n := 0
	for id, c := range b.callbacks {
		if ended(c.state) && c.since.Before(t) {
			delete(b.callbacks, id)
			n++
		}
	}
	return n
}

func ended(s callbackv1.CallbackState) bool {
	return s == callbackv1.CallbackState_CALLBACK_STATE_COMPLETED || s == callbackv1.CallbackState_CALLBACK_STATE_CANCELLED
}

// TakeChanged returns the agents changed since the last call and starts
// a new set.
func (b *Board) TakeChanged() []string {
	out := make([]string, 0, len(b.changed))
	for id := range b.changed {
		out = append(out, id)
	}
	clear(b.changed)
	return out
}
