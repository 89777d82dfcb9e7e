package mediagateway

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/proto/catalog"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	"github.com/ringback/ringback/services/media-gateway/call"
	"github.com/ringback/ringback/services/media-gateway/telephony"
)

// Control requests reach the owner through the call's own stream. The bus
// gives each request to one instance of the consumer group, whichever; one
// that does not own the call appends ControlForwarded to the call's stream,
// and the owner, which tails every call stream for its read model anyway,
// carries it out. Why the store and not a per-instance consumer group: the
// request becomes part of the call's record (who asked, through whom), it
// needs no topic or group per instance (a Kafka group per pod that starts
// at the latest offset would lose what was published while it joined, and
// leave a dead group behind every restart), and when the owner dies the
// request is still there for the audit while the takeover ends the call.

// where a call is, for a control request.
type where int

const (
	here      where = iota // ours, under our current lease (or not a call at all)
	elsewhere              // another instance owns it
	lostHere               // our instance's, from an earlier process: the takeover hangs it up
)

// ownerOf reads the call's stream: the projection may lag behind a call
// placed a moment ago by another instance.
func (s *Service) ownerOf(ctx context.Context, id string) (where, error) {
	l, err := eventstore.Load(ctx, s.deps.Store, call.Stream(id), calls_)
	if err != nil {
		return here, err
	}
	st := l.State
	switch {
	case st.Status == call.None || st.Status.Final():
		return here, nil // nothing to forward to: decided (and refused) here
	case st.Instance != s.instance:
		return elsewhere, nil
	case st.Holder != s.holder:
		return lostHere, nil
	}
	return here, nil
}

// forward hands a request to the call's owner. Its cause is the request's
// own id, so a redelivered request forwards nothing new.
func (s *Service) forward(ctx context.Context, e envelope.Envelope, id string) error {
	data, err := proto.Marshal(e.Event)
	if err != nil {
		return fmt.Errorf("forward %s: %w", id, err)
	}
	_, err = s.execute(ctx, id, eventstore.Cause{ID: e.ID, Correlation: e.Correlation}, call.Forward{Via: s.instance,
		EventID: e.ID, Correlation: e.Correlation, Type: catalog.TypeName(e.Event), Event: data, At: s.deps.Clock.Now()})
	if err != nil {
		return fmt.Errorf("forward %s: %w", id, err)
	}
	s.fwdCount.Inc()
	return nil
}

// forwards is the owner's queue of requests forwarded to it, in store
// order, so that a hold and its retrieve are carried out in order.
type forwards struct {
	mu    sync.Mutex
	queue []*mediav1.ControlForwarded
	wake  chan struct{}
}

func newForwards() *forwards { return &forwards{wake: make(chan struct{}, 1)} }

func (f *forwards) push(m *mediav1.ControlForwarded) {
	f.mu.Lock()
	f.queue = append(f.queue, m)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *forwards) take() []*mediav1.ControlForwarded {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.queue
	f.queue = nil
	return q
}

// forwarded carries out the requests forwarded to this instance until ctx
// is done.
func (s *Service) forwarded(ctx context.Context) error {
	for {
		for _, m := range s.fwd.take() {
			ev, err := catalog.Decode(m.EventType, m.Event)
			if err != nil {
				s.deps.Log.Warn("forwarded request undecodable", "call", m.CallId, "type", m.EventType, "err", err)
				continue
			}
			// Under its own cause: the request's id is the forward's.
			e := envelope.Envelope{ID: "fwd:" + m.EventId, Type: m.EventType, Correlation: m.Correlation, Event: ev, Data: m.Event}
			if err := s.command(ctx, e, true); err != nil && ctx.Err() == nil {
				s.deps.Log.Warn("forwarded request", "call", m.CallId, "type", catalog.Short(m.EventType), "via", m.Via, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.fwd.wake:
		}
	}
}

// apply folds the gateway's streams: calls, forwarded requests for the
// calls held here, registrations.
func (s *Service) apply(r eventstore.RecordedEvent, e proto.Message) {
	if strings.HasPrefix(r.Stream, registrationPrefix) {
		s.regs.apply(e)
		return
	}
	s.calls.apply(r, e)
	// Only a call held here: requests replayed from before this process
	// started are for calls it never held.
	if f, ok := e.(*mediav1.ControlForwarded); ok && f.Owner == s.instance && s.calls.isLive(f.CallId) {
		s.fwd.push(f)
	}
}

// legsOf turns the SIP adapter's dialogs into the events' form.
func legsOf(ds []telephony.Dialog) map[string]*mediav1.LegDialog {
	if len(ds) == 0 {
		return nil
	}
	out := make(map[string]*mediav1.LegDialog, len(ds))
	for _, d := range ds {
		out[d.Role] = &mediav1.LegDialog{CallId: d.CallID, From: d.From, To: d.To, Cseq: d.CSeq, RemoteTarget: d.RemoteTarget,
			RouteSet: d.RouteSet, Transport: d.Transport, RemoteAddr: d.RemoteAddr, LocalContact: d.LocalContact,
			Early: d.Early, Via: d.Via}
	}
	return out
}

// dialogOf is a recorded leg's dialog for the SIP adapter.
func dialogOf(role string, l *mediav1.LegDialog) telephony.Dialog {
	return telephony.Dialog{Role: role, CallID: l.CallId, From: l.From, To: l.To, CSeq: l.Cseq, RemoteTarget: l.RemoteTarget,
		RouteSet: l.RouteSet, Transport: l.Transport, RemoteAddr: l.RemoteAddr, LocalContact: l.LocalContact,
		Early: l.Early, Via: l.Via}
}
