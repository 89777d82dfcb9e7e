package kafka

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/ringback/ringback/libs/clock"
)

// partition delivers one assigned partition for one generation.
//
// Records with the same key (the stream id) are delivered one at a time, in
// offset order: the next one only after the previous was acked. Records
// with different keys are delivered concurrently, so a slow stream does not
// hold back the other streams of its partition. At most maxInFlight records
// of the partition are fetched and not yet acked; the fetch waits for a
// slot.
//
// Offsets are committed up to the oldest record not yet acked: a record
// acked out of order waits for every record before it, so a crash or a
// rebalance redelivers from the first unacked record (and with it some
// acked ones, which at-least-once and idempotent consumers allow).
type partition struct {
	sub    *subscription
	gen    *kafkago.Generation
	id     int
	done   context.Context // ownership ends: stop delivering, drain
	logger watermill.LoggerAdapter

	slots chan struct{} // one per record fetched and not acked
	lanes sync.WaitGroup

	lag      prometheus.Gauge
	inFlight prometheus.Gauge

	mu      sync.Mutex
	byKey   map[string]*lane // keys with records fetched and not acked
	pending []pendingOffset  // fetched and not committable yet, in offset order
	next    int64            // offset after the last record committable, -1 before any
	hwm     int64            // high watermark of the last fetch
}

// lane holds one key's records waiting for delivery; queue[0] is the one
// delivered now.
type lane struct {
	key   string
	queue []kafkago.Message
}

type pendingOffset struct {
	offset int64
	acked  bool
}

func newPartition(sub *subscription, done context.Context, gen *kafkago.Generation, id int, logger watermill.LoggerAdapter) *partition {
	group := sub.s.cfg.ConsumerGroup
	return &partition{
		sub:      sub,
		gen:      gen,
		id:       id,
		done:     done,
		logger:   logger,
		slots:    make(chan struct{}, sub.s.cfg.MaxInFlightPerPartition),
		lag:      sub.s.metrics.lag.WithLabelValues(sub.topic, partitionLabel(id), group),
		inFlight: sub.s.metrics.inFlight.WithLabelValues(sub.topic, group),
		byKey:    make(map[string]*lane),
		next:     -1,
	}
}

// dispatch takes record into the partition once a slot is free. It reports
// false when ownership ended first; the record is then left to the next
// owner.
func (p *partition) dispatch(record kafkago.Message) bool {
	select {
	case p.slots <- struct{}{}:
	case <-p.done.Done():
		return false
	}
	p.inFlight.Inc()

	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = append(p.pending, pendingOffset{offset: record.Offset})
	p.hwm = record.HighWaterMark
	p.reportLag()
	key := string(record.Key)
	if l := p.byKey[key]; l != nil {
		l.queue = append(l.queue, record)
		return true
	}
	l := &lane{key: key, queue: []kafkago.Message{record}}
	p.byKey[key] = l
	p.lanes.Add(1)
	go func() {
		defer p.lanes.Done()
		p.run(l)
	}()
	return true
}

// run delivers a lane's records in order until it is empty or ownership
// ends. Records left in the lane when ownership ends are not delivered: the
// next owner starts at the oldest of them, since none was committed.
func (p *partition) run(l *lane) {
	for {
		p.mu.Lock()
		if len(l.queue) == 0 || p.done.Err() != nil {
			delete(p.byKey, l.key)
			p.mu.Unlock()
			return
		}
		record := l.queue[0]
		p.mu.Unlock()

		if !p.deliver(record) {
			p.mu.Lock()
			delete(p.byKey, l.key)
			p.mu.Unlock()
			return
		}

		p.mu.Lock()
		l.queue = l.queue[1:]
		p.ack(record.Offset)
		p.mu.Unlock()
		p.inFlight.Dec()
		<-p.slots
	}
}

// ack marks offset handled and moves the commit past every handled record
// before the first unhandled one. Called with mu held, so that offsets reach
// the committer in increasing order.
func (p *partition) ack(offset int64) {
	i := sort.Search(len(p.pending), func(i int) bool { return p.pending[i].offset >= offset })
	if i < len(p.pending) && p.pending[i].offset == offset {
		p.pending[i].acked = true
	}
	n := 0
	for n < len(p.pending) && p.pending[n].acked {
		n++
	}
	if n == 0 {
		return
	}
	p.next = p.pending[n-1].offset + 1
	p.pending = p.pending[n:]
	p.sub.commits.add(p.gen, p.sub.topic, p.id, p.next)
	p.reportLag()
}

// reportLag sets the lag gauge: records from the one the group would resume
// at to the high watermark. Called with mu held.
func (p *partition) reportLag() {
	from := p.next
	if len(p.pending) > 0 {
		from = p.pending[0].offset
	}
	if from < 0 || p.hwm < from {
		return
	}
	p.lag.Set(float64(p.hwm - from))
}

// wait returns once every lane has stopped: after it nothing of this
// partition is delivered or committed any more, and its lag series is
// removed, since another member may own the partition next.
func (p *partition) wait() {
	p.lanes.Wait()
	p.inFlight.Sub(float64(len(p.slots)))
	p.sub.s.metrics.lag.DeleteLabelValues(p.sub.topic, partitionLabel(p.id), p.sub.s.cfg.ConsumerGroup)
}

// deliver hands record to the subscriber until it is acked, delivering it
// again after each nack (NackBackoff later). It reports false when
// ownership ended before an ack; the handler of a message it holds then gets
// DrainTimeout to ack it, so its offset is committed here rather than the
// record redelivered elsewhere.
func (p *partition) deliver(record kafkago.Message) bool {
	sub := p.sub
	group := sub.s.cfg.ConsumerGroup
	for {
		msg := fromKafka(record)
		msgCtx, cancelMsg := context.WithCancel(sub.ctx)
		msg.SetContext(msgCtx)

		select {
		case sub.out <- msg:
		case <-p.done.Done():
			cancelMsg()
			return false
		}
		start := time.Now()

		acked, stopping := false, false
		select {
		case <-msg.Acked():
			acked = true
		case <-msg.Nacked():
		case <-p.done.Done():
			stopping = true
			t := time.NewTimer(sub.s.cfg.DrainTimeout)
			select {
			case <-msg.Acked():
				acked = true
			case <-msg.Nacked():
			case <-t.C:
				p.logger.Info("message not acked within drain timeout, left for redelivery", watermill.LogFields{"message_uuid": msg.UUID})
			}
			t.Stop()
		}
		// Watermill: acking or nacking cancels the message's context.
		cancelMsg()
		outcome := "nack"
		if acked {
			outcome = "ack"
		}
		sub.s.metrics.handle.WithLabelValues(sub.topic, group, outcome).Observe(time.Since(start).Seconds())

		if acked {
			return true
		}
		if stopping || !clock.Sleep(p.done, sub.s.cfg.NackBackoff) {
			return false
		}
		p.logger.Trace("redelivering nacked message", watermill.LogFields{"message_uuid": msg.UUID, "offset": record.Offset})
	}
}
