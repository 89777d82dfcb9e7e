package history

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
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
		iid = s.view.latestInteraction(cb)
	}
	at := e.Time
	if at.IsZero() {
		at = s.deps.Clock.Now()
	}
	out, err := s.record(ctx, eventstore.Cause{ID: e.ID, Correlation: cb}, timeline.Record{
		CallbackID: cb, InteractionID: iid, EventID: e.ID, EventType: e.Type, Source: e.Stream,
		OccurredAt: at, Data: e.Data, PhoneNumber: f.PhoneNumber})
	if err != nil {
		return fmt.Errorf("record %s of callback %s: %w", e.Type, cb, err)
	}
	if len(out.Events) > 0 {
		s.recorded.Inc()
	}
	return nil
}

// awaitCallbackOf waits briefly for the callback of an interaction to be known.
func (s *Service) awaitCallbackOf(ctx context.Context, interactionID string) (string, error) {
	if cb, ok := s.view.callbackOf(interactionID); ok {
		return cb, nil
	}
	wctx, cancel := context.WithTimeout(ctx, interactionWait)
	defer cancel()
	var cb string
	err := s.proj.WaitUntil(wctx, func() bool {
		var ok bool
		cb, ok = s.view.callbackOf(interactionID)
		return ok
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return "", fmt.Errorf("interaction %s: callback not known yet", interactionID)
	}
	return cb, err
}
