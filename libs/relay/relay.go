// Package relay is the outbox: it tails an event store from a persisted
// checkpoint and publishes every event to the bus. An event that is stored
// is published at least once; the checkpoint moves only after the bus
// accepted the event, so a crash replays, it never skips. Consumers drop the
// replays by event id.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
)

// Checkpoints persists how far the relay got (see InStore).
type Checkpoints interface {
	Load(ctx context.Context) (eventstore.Position, error)
	Save(ctx context.Context, p eventstore.Position) error
}

// Relay publishes a store's events. Build it with New; Run it once.
type Relay struct {
	store eventstore.Store
	pub   message.Publisher
	cp    Checkpoints
	log   *slog.Logger
	// SaveEvery bounds how often the checkpoint is written: a crash replays
	// at most this much, which consumers deduplicate anyway.
	SaveEvery time.Duration
	// Streams, when set, says which streams this relay publishes: in a
	// shared store (EventStoreDB) each process publishes only its own
	// services' streams, so an event travels once, not once per process.
	Streams func(stream string) bool
	// Metrics, when set, measure the lag of the bus behind the store.
	Metrics *Metrics

	// For CaughtUp: the last event the subscription saw (any stream), the
	// last one handed to the pipeline, the last one delivered.
	mu                      sync.Mutex
	scanned, fed, delivered eventstore.Position
}

// CaughtUp says whether the relay has read the store up to head and
// delivered everything it read, so a stopping process can let it finish
// publishing what its services wrote while they stopped.
func (r *Relay) CaughtUp(head eventstore.Position) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.scanned.Less(head) && !r.delivered.Less(r.fed)
}

func (r *Relay) note(p *eventstore.Position, at eventstore.Position) {
	r.mu.Lock()
	*p = at
	r.mu.Unlock()
}

// New returns a relay from store to pub.
func New(store eventstore.Store, pub message.Publisher, cp Checkpoints, log *slog.Logger) *Relay {
	return &Relay{store: store, pub: pub, cp: cp, log: log, SaveEvery: 100 * time.Millisecond}
}

// AsyncPublisher is a publisher that takes messages in order at once and
// reports later when they were delivered (the in-process bus): the relay
// then keeps batches in flight, so one slow consumer does not hold back the
// others' next events.
type AsyncPublisher interface {
	PublishAsync(topic string, msgs ...*message.Message) <-chan error
}

// Audience is a publisher that knows whether any consumer group would
// receive an event (the in-process bus, which drops a message no group
// subscribed to or all leave out). The relay does not build or send such
// events: history's copies, nearly half of what the platform appends, are
// read by no consumer in one process (issue 13's cost per callback).
type Audience interface {
	Reads(topic, eventType string) bool
}

// nobody is the flight of events no group would receive: delivered at once.
var nobody = func() chan error {
	c := make(chan error)
	close(c)
	return c
}()

// maxInFlight and maxEventsInFlight bound the batches, and the events in
// them, handed to an AsyncPublisher and not yet delivered to every group:
// what one consumer lagging behind the others may cost in memory (a few
// MB of events) before the relay waits for it. At 64 batches (of one or
// two events each in the thin path) the wait came a few callbacks behind:
// history, a little behind by design (its copies wait to share a sync,
// eventstore.WithSharedSync), then held back every service's next event,
// and the call -> INVITE p99 doubled (issue 13).
const (
	maxInFlight       = 1024
	maxEventsInFlight = 8192
)

// maxBatch bounds how many events travel in one Publish call.
const maxBatch = 256

// Run publishes until ctx is done or the bus fails for good. It returns
// nil on ctx cancellation after saving the checkpoint.
func (r *Relay) Run(ctx context.Context) error {
	from, err := r.cp.Load(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting: nothing to report
		}
		return fmt.Errorf("relay checkpoint: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The subscription feeds a buffer so that the publisher can send what
	// has piled up in one batch instead of one round trip per event.
	feed := make(chan eventstore.RecordedEvent, maxBatch)
	subErr := make(chan error, 1)
	go func() {
		defer close(feed)
		subErr <- r.store.SubscribeAll(ctx, from, func(ctx context.Context, e eventstore.RecordedEvent) error {
			if r.Streams != nil && !r.Streams(e.Stream) {
				r.note(&r.scanned, e.Position)
				return nil
			}
			select {
			case feed <- e:
				r.mu.Lock()
				r.scanned, r.fed = e.Position, e.Position
				r.mu.Unlock()
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	async, ok := r.pub.(AsyncPublisher)
	if !ok {
		async = syncPublisher{r, ctx}
	}
	pubErr := r.pipeline(ctx, async, feed)
	cancel()
	for range feed { // let the subscription goroutine finish
	}
	sErr := <-subErr
	if pubErr != nil {
		return pubErr
	}
	if sErr != nil && !errors.Is(sErr, context.Canceled) && !errors.Is(sErr, eventstore.ErrClosed) {
		return fmt.Errorf("relay subscription: %w", sErr)
	}
	return nil
}

func (r *Relay) retry(ctx context.Context, topic string, msgs []*message.Message) error {
	backoff := 50 * time.Millisecond
	for {
		err := r.pub.Publish(topic, msgs...)
		if err == nil {
			return nil
		}
		r.log.WarnContext(ctx, "relay publish failed, retrying", "topic", topic, "events", len(msgs), "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// pipeline publishes through an AsyncPublisher: batches go out as soon as
// they are read, and the checkpoint moves past a batch only once it and
// every batch before it were delivered.
func (r *Relay) pipeline(ctx context.Context, pub AsyncPublisher, feed <-chan eventstore.RecordedEvent) error {
	type flight struct {
		done   <-chan error
		last   eventstore.Position
		stored []time.Time // for Metrics
	}
	var (
		queue     []flight
		events    int // in the queue's flights
		last      eventstore.Position
		saved     = true
		lastSaved time.Time
	)
	saveFailing := false
	// save moves the checkpoint past what was delivered. A failure is
	// logged and tried again at the next tick: the checkpoint only spares
	// the next leader re-publishing (its consumers drop duplicates), so a
	// store that does not answer for a while is no reason to stop relaying
	// (it was, and every leading replica of the platform exited over a
	// stalled store).
	save := func() {
		if saved {
			return
		}
		// The last save runs after ctx ended (on stop): it gets a moment of
		// its own, or a clean stop would replay a whole interval.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		lastSaved = time.Now() // tried: the next try waits a SaveEvery
		if err := r.cp.Save(sctx, last); err != nil {
			if !saveFailing {
				r.log.WarnContext(ctx, "relay checkpoint not saved; relaying on, trying again", "err", err)
			}
			saveFailing = true
			return
		}
		if saveFailing {
			r.log.InfoContext(ctx, "relay checkpoint saved again")
		}
		saved, saveFailing = true, false
	}
	defer save()
	tick := time.NewTicker(r.SaveEvery)
	defer tick.Stop()
	batch := make([]eventstore.RecordedEvent, 0, maxBatch)
	audience, _ := r.pub.(Audience)
	for {
		var oldest <-chan error
		if len(queue) > 0 {
			oldest = queue[0].done
		}
		in := feed
		if len(queue) >= maxInFlight || events >= maxEventsInFlight {
			in = nil // wait for deliveries before reading more
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			save()
		case err := <-oldest:
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("relay publish: %w", err)
			}
			r.Metrics.delivered(queue[0].stored)
			events -= len(queue[0].stored)
			last, saved, queue = queue[0].last, false, queue[1:]
			r.note(&r.delivered, last)
			if time.Since(lastSaved) >= r.SaveEvery {
				save()
			}
		case e, ok := <-in:
			if !ok {
				return nil
			}
			batch = append(batch[:0], e)
		drain:
			for len(batch) < maxBatch {
				select {
				case e, ok := <-feed:
					if !ok {
						break drain
					}
					batch = append(batch, e)
				default:
					break drain
				}
			}
			// One flight per run of one topic, in store order.
			for i := 0; i < len(batch); {
				topic := envelope.Topic(batch[i].Stream)
				j := i
				var (
					msgs   []*message.Message
					stored []time.Time
				)
				for ; j < len(batch) && envelope.Topic(batch[j].Stream) == topic; j++ {
					if audience != nil && !audience.Reads(topic, batch[j].Type) {
						continue
					}
					msgs = append(msgs, envelope.ToMessage(batch[j]))
					stored = append(stored, batch[j].Time)
				}
				if len(msgs) == 0 {
					// In its place in the queue, so that the checkpoint
					// passes these events only after those before them.
					queue = append(queue, flight{done: nobody, last: batch[j-1].Position})
					i = j
					continue
				}
				// Before publishing: a Kafka publish retries inside
				// PublishAsync while the bus is down, and that is lag.
				r.Metrics.sending(batch[i].Time, j-i)
				queue = append(queue, flight{done: pub.PublishAsync(topic, msgs...), last: batch[j-1].Position, stored: stored})
				events += len(stored)
				i = j
			}
		}
	}
}

// syncPublisher runs a plain Publisher (Kafka) through the pipeline: each
// batch is published, retried while the bus is unavailable, before the
// next is read, so nothing is in flight beyond it.
type syncPublisher struct {
	r   *Relay
	ctx context.Context
}

func (p syncPublisher) PublishAsync(topic string, msgs ...*message.Message) <-chan error {
	done := make(chan error, 1)
	done <- p.r.retry(p.ctx, topic, msgs)
	return done
}
