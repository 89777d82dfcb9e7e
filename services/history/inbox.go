package history

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/history/timeline"
)

// Topics are the topics history records: every service that writes facts about a callback.
var Topics = []string{envelope.TopicOf("intake"), envelope.TopicOf("scheduler"), envelope.TopicOf("router"),
	envelope.TopicOf("agent"), envelope.TopicOf("media"), envelope.TopicOf("disposition")}

// interactionWait bounds how long an event naming only its interaction waits
// for the event that ties that interaction to its callback (CallbackDue) to
// be recorded: topics are consumed in parallel, so it may come a little later.
// After that the inbox retries with backoff.
const interactionWait = 3 * time.Second

// handle copies an event that belongs to a callback into its audit trail.
func (s *Service) handle(ctx context.Context, e envelope.Envelope) error {
	if strings.HasPrefix(e.Stream, timeline.StreamPrefix) {
		return nil // our own notes are in the trail already
	}
	switch e.Event.(type) {
	case *callbackv1.CallbackVoided:
		return nil // a request that never was: no callback to record it in
	case *agentv1.DraftSaved:
		// What the agent is typing, saved every pause (issue 15): not a
		// step of the callback. What is left of it at Done comes as a
		// DraftFiled, recorded and learnt as a note.
		return nil
	}
	f := timeline.FactsOf(e.Event)
	// Every event of a callback's chain carries the callback id as its
	// correlation; the field and the interaction index cover writers that
	// did not pass it on.
	cb := e.Correlation
	if cb == "" {
		cb = f.CallbackID
	}
	if cb == "" && f.InteractionID != "" {
		var err error
		if cb, err = s.awaitCallbackOf(ctx, f.InteractionID); err != nil {
			return err
		}
	}
	if cb == "" {
		return nil // not about a callback: agent logins, availability...
	}
	iid := f.InteractionID
	if iid == "" {
		st, _, err := s.state(ctx, cb)
		if err != nil {
			return err
		}
		iid = st.InteractionID
	}
	// Indexed before it is recorded (index.go), so that it can be found
	// once its callback has left memory. Like the copy (record), the
	// index entries are off every caller's path: they share a sync.
	if err := s.link(eventstore.WithSharedSync(ctx), cb, iid, f.PhoneNumber); err != nil {
		return err
	}
	at := e.Time
	if at.IsZero() {
		at = s.deps.Clock.Now()
	}
	out, err := s.record(ctx, eventstore.Cause{ID: e.ID, Correlation: cb}, timeline.Record{
		CallbackID: cb, InteractionID: iid, EventID: e.ID, EventType: e.Type, Source: e.Stream,
		OccurredAt: at, Data: withoutRequest(e), PhoneNumber: f.PhoneNumber, Indexed: true})
	if err != nil {
		return fmt.Errorf("record %s of callback %s: %w", e.Type, cb, err)
	}
	if len(out.Events) > 0 {
		s.recorded.Inc()
	}
	return nil
}

// withoutRequest is the data of e to copy into the trail: the visitor's
// request, which the scheduler's, the router's and agent-session's events
// carry along, is kept once, in the copy of CallbackRequested, and left
// out of the others (issue 13: with its case data, up to ~100 KB in each
// of five more copies). What the trail's state learns of the request
// (timeline.State.learn) it learns from the first copy that has it. e's
// event is this consumer's own decode, and nothing reads it after.
func withoutRequest(e envelope.Envelope) []byte {
	if _, first := e.Event.(*callbackv1.CallbackRequested); first || timeline.RequestOf(e.Event) == nil {
		return e.Data
	}
	m := e.Event.ProtoReflect()
	m.Clear(m.Descriptor().Fields().ByName("request"))
	data, err := proto.Marshal(e.Event)
	if err != nil {
		return e.Data // as it came, whole
	}
	return data
}

// awaitCallbackOf waits briefly for the callback of an interaction to be known.
func (s *Service) awaitCallbackOf(ctx context.Context, interactionID string) (string, error) {
	var cb string
	err := s.await(ctx, interactionWait, func(ctx context.Context, store bool) (bool, error) {
		if !store {
			var ok bool
			cb, ok = s.view.callbackOf(interactionID)
			return ok, nil
		}
		var ok bool
		var err error
		cb, ok, err = s.lookupCallback(ctx, interactionID)
		return ok, err
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return "", fmt.Errorf("interaction %s: callback not known yet", interactionID)
	}
	return cb, err
}

// storeCheckEvery spaces the store reads of a wait: the projection wakes
// it at every event recorded, which may be thousands a second.
const storeCheckEvery = 50 * time.Millisecond

// await waits up to d for ok, which is asked with store false (memory
// only) at every event the projection folds, and with store true (memory,
// then the store) at the start, at most every storeCheckEvery, and at the
// end: the store knows at least what memory does, and what memory no
// longer holds. It returns context.DeadlineExceeded when ok never held.
func (s *Service) await(ctx context.Context, d time.Duration, ok func(ctx context.Context, store bool) (bool, error)) error {
	if found, err := ok(ctx, true); found || err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		storeErr error
		checked  = time.Now()
	)
	err := s.proj.WaitUntil(wctx, func() bool {
		store := time.Since(checked) >= storeCheckEvery
		if store {
			checked = time.Now()
		}
		found, err := ok(wctx, store)
		if err != nil && wctx.Err() == nil {
			storeErr = err
			return true
		}
		return found
	})
	if storeErr != nil {
		return storeErr
	}
	if err != nil && ctx.Err() == nil {
		// The last word is the store's.
		if found, serr := ok(ctx, true); found || serr != nil {
			return serr
		}
		return context.DeadlineExceeded
	}
	return err
}
