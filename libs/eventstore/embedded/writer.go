package embedded

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
)

// maxBatch bounds one group commit, so a flood of appends still gets
// acknowledged in slices instead of waiting for one enormous write.
const (
	maxBatch      = 1024
	maxBatchBytes = 4 << 20
)

// sharedSyncWait is the longest an append made with
// eventstore.WithSharedSync waits for another append to share its sync.
// Such appends follow an event every service reacts to at once, so company
// comes in well under a millisecond when the platform is busy at all.
const sharedSyncWait = 2 * time.Millisecond

// preallocChunk is how much the log reserves ahead of its end at a time.
const preallocChunk = 8 << 20

// appendReq is one Append handed to the writer.
type appendReq struct {
	stream   string
	expected eventstore.ExpectedRevision
	events   []event
	fence    *eventstore.Fence // the lease the append is made under, if any
	patient  bool              // may wait sharedSyncWait for company (eventstore.WithSharedSync)
	done     chan appendResp   // buffered: the writer never waits for a caller that gave up
	rest     []*appendReq      // AppendParts: the other parts, written with this one or not at all
}

type appendResp struct {
	res   eventstore.AppendResult
	parts []eventstore.AppendResult // AppendParts: each part's, in order
	err   error
}

// run is the single writer. It takes the first waiting request, then every
// request already waiting behind it, and commits them with one write and one
// sync: the longer a sync takes, the more appends queue up to share the next
// one, which is what makes group commit scale with the disk's latency.
//
// A batch of patient appends only (eventstore.WithSharedSync) is not
// committed at once but held, up to sharedSyncWait, and committed with the
// next batch that comes. Held appends are not written yet, so the log
// never has more than one unsynced write: a crash tears at most its tail,
// which Open truncates (scanLog), never a frame with synced ones after it.
func (s *Store) run() {
	defer s.writer.Done()
	var held []*appendReq
	wait := time.NewTimer(s.sharedWait)
	wait.Stop()
	for {
		var due <-chan time.Time
		if len(held) > 0 {
			due = wait.C
		}
		timedOut := false
		select {
		case req := <-s.reqs:
			s.batch = append(append(s.batch[:0], held...), req)
		case <-due:
			s.batch = append(s.batch[:0], held...)
			timedOut = true
		case <-s.closing.Done():
			if len(held) > 0 {
				s.commit(held) // taken already: written before the store closes
			}
			return
		}
		bytes := 0
	drain:
		for len(s.batch) < maxBatch && bytes < maxBatchBytes {
			select {
			case req := <-s.reqs:
				s.batch = append(s.batch, req)
				bytes += encodedSize(req.stream, req.events)
				for _, p := range req.rest {
					bytes += encodedSize(p.stream, p.events)
				}
			default:
				break drain
			}
		}
		if !timedOut && len(s.batch) < maxBatch && allPatient(s.batch) {
			if len(held) == 0 {
				wait.Reset(s.sharedWait) // from the first held append on
			}
			held = append(held[:0], s.batch...)
			clear(s.batch)
			continue
		}
		if len(held) > 0 && !timedOut {
			wait.Stop()
		}
		clear(held)
		held = held[:0]
		s.commit(s.batch)
		clear(s.batch) // do not keep the last batch's events reachable
	}
}

// allPatient says whether every append of batch may wait for company.
func allPatient(batch []*appendReq) bool {
	for _, req := range batch {
		if !req.patient {
			return false
		}
	}
	return true
}

// commit decides, writes, syncs and answers one batch.
func (s *Store) commit(batch []*appendReq) {
	resps := make([]appendResp, len(batch))
	if s.failed != nil {
		for _, req := range batch {
			req.done <- appendResp{err: s.failed}
		}
		return
	}
	if fn := s.syncFirst.Load(); fn != nil {
		if err := (*fn)(); err != nil {
			err = fmt.Errorf("append: before the write: %w", err)
			for _, req := range batch {
				req.done <- appendResp{err: err}
			}
			return
		}
	}
	frameOff := s.size
	buf := append(s.buf[:0], make([]byte, frameHeader)...)
	now := s.now().UnixNano()

	// Decide and index under the lock; readers skip the pending records
	// until durable moves past them, so they never see an unsynced event.
	written := s.written[:0]
	s.placed = s.placed[:0]
	s.mu.Lock()
	for i, req := range batch {
		if len(req.rest) > 0 {
			var wrote bool
			resps[i], wrote = s.commitParts(req, now, frameOff, &buf)
			if wrote {
				written = append(written, req)
			}
			continue
		}
		res, write, err := s.decide(req)
		if err != nil || !write {
			resps[i] = appendResp{res: res, err: err}
			continue
		}
		resps[i].res = s.place(req, now, frameOff, &buf)
		written = append(written, req)
	}
	s.mu.Unlock()
	s.buf = buf
	// The scratch list of written appends is kept for the next commit,
	// emptied, so that it holds no request past its answer.
	defer func() { clear(written); s.written = written[:0]; clear(s.placed); s.placed = s.placed[:0] }()

	if len(buf) > frameHeader {
		encodeFrameHeader(buf)
		began := time.Now()
		err := s.write(buf, frameOff)
		if err != nil {
			// After a failed write or sync the page cache and the disk may
			// disagree and retrying the sync can report success for lost data
			// (the 2018 PostgreSQL fsync problem). Refuse all further writes;
			// reopening re-reads what the disk really holds.
			s.failed = fmt.Errorf("event log unusable after failed write, reopen the store: %w", err)
			for _, req := range batch {
				req.done <- appendResp{err: err}
			}
			return
		}
		s.metrics.committed(time.Since(began), len(buf), written)
		s.remember(s.placed)
		s.size += int64(len(buf))
		s.mu.Lock()
		s.durable = s.appends.len()
		s.durableSeq = s.lastSeq
		close(s.wake) // wake every waiting subscription at once
		s.wake = make(chan struct{})
		s.mu.Unlock()
	}
	for i, req := range batch {
		req.done <- resps[i]
	}
}

func (s *Store) write(frame []byte, off int64) error {
	if end := off + int64(len(frame)); end > s.alloc && !s.noAlloc {
		// Space for this frame and the next megabytes: the sync after
		// this write commits the new size once for all of them.
		n := max(preallocChunk, end-off)
		switch err := preallocate(s.f, off, n); {
		case err == nil:
			s.alloc = off + n
		case errors.Is(err, errors.ErrUnsupported):
			// Not this filesystem's (or system's): the log grows as it is
			// written, as it did before.
			s.noAlloc = true
		}
		// Any other failure (a full disk) is the write's to report.
	}
	if _, err := s.f.WriteAt(frame, off); err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	if err := syncData(s.f); err != nil {
		return fmt.Errorf("sync log: %w", err)
	}
	return nil
}

// commitParts decides every part of an AppendParts and, if each holds,
// encodes and indexes them all, in the same frame: one write, so a crash
// keeps all or none. Caller holds mu.
func (s *Store) commitParts(req *appendReq, now int64, frameOff int64, buf *[]byte) (resp appendResp, wrote bool) {
	parts := append([]*appendReq{req}, req.rest...)
	results := make([]eventstore.AppendResult, len(parts))
	var replayed *appendReq
	writes := 0
	for k, p := range parts {
		res, write, err := s.decide(p)
		switch {
		case err != nil:
			return appendResp{err: err}, false
		case write:
			writes++
		default:
			results[k], replayed = res, p
		}
	}
	switch {
	case writes == 0:
		return appendResp{parts: results}, false // all appended before: a retry
	case replayed != nil:
		// Some parts appended before and some not: not this append again.
		actual := eventstore.ExpectedRevision(len(s.streams.get(replayed.stream).entries) - 1)
		return appendResp{err: &eventstore.ConflictError{Stream: replayed.stream, Expected: replayed.expected, Actual: actual}}, false
	}
	for k, p := range parts {
		results[k] = s.place(p, now, frameOff, buf)
	}
	return appendResp{parts: results}, true
}

// place encodes a decided append as the next record of the frame in buf,
// at frameOff in the log, and indexes it. Caller holds mu.
func (s *Store) place(req *appendReq, now int64, frameOff int64, buf *[]byte) eventstore.AppendResult {
	r := record{firstSeq: s.lastSeq + 1, firstRev: uint64(req.expected + 1), time: now, stream: req.stream, events: req.events}
	start := len(*buf)
	*buf = appendRecord(*buf, &r)
	off := frameOff + int64(start)
	s.index(&r, appendLoc{off: off, size: uint32(len(*buf) - start)})
	s.placed = append(s.placed, placedRecord{off: off, r: r})
	return eventstore.AppendResult{
		NextExpected: eventstore.ExpectedRevision(r.firstRev) + eventstore.ExpectedRevision(len(r.events)) - 1,
		Position:     eventstore.Position{Commit: s.lastSeq, Prepare: s.lastSeq},
	}
}

// decide checks an append against the stream, pending appends of this batch
// included. It returns write=false with a result for an idempotent replay.
// Caller holds mu.
func (s *Store) decide(req *appendReq) (res eventstore.AppendResult, write bool, err error) {
	if f := req.fence; f != nil {
		// Under mu, as AcquireLease: a lease that changed hands before this
		// append is decided refuses it.
		if l, ok := s.leases[f.Name]; !ok || l.Generation != f.Generation {
			return res, false, fmt.Errorf("lease %s generation %d: %w", f.Name, f.Generation, eventstore.ErrFenced)
		}
	}
	st := s.streams.get(req.stream)
	actual := eventstore.NoStream
	if st != nil && len(st.entries) > 0 {
		actual = eventstore.ExpectedRevision(len(st.entries) - 1)
	}
	conflict := &eventstore.ConflictError{Stream: req.stream, Expected: req.expected, Actual: actual}
	if st == nil {
		if req.expected != eventstore.NoStream {
			return res, false, conflict
		}
		return res, true, nil
	}
	// EventStoreDB's rule: ids already in the stream, in the same order and
	// starting right after the expected revision, are this same append
	// arriving again (a retry after a lost answer). Anything else touching
	// known ids is a conflict, never a second copy.
	if rev, ok := st.revisionOf(req.events[0].id); ok {
		if int64(rev) != int64(req.expected)+1 || !st.replays(rev, req.events) {
			return res, false, conflict
		}
		last := st.entries[rev+uint64(len(req.events))-1]
		return eventstore.AppendResult{
			NextExpected: eventstore.Exactly(rev + uint64(len(req.events)) - 1),
			Position:     eventstore.Position{Commit: last.seq, Prepare: last.seq},
		}, false, nil
	}
	if req.expected != actual {
		return res, false, conflict
	}
	for _, e := range req.events[1:] {
		if _, ok := st.revisionOf(e.id); ok {
			return res, false, conflict
		}
	}
	return res, true, nil
}

// replays reports whether events sit in st at revisions rev, rev+1, ...
func (st *streamIndex) replays(rev eventstore.Revision, events []event) bool {
	if rev+uint64(len(events)) > uint64(len(st.entries)) {
		return false
	}
	for i, e := range events {
		if st.entries[rev+uint64(i)].id != e.id {
			return false
		}
	}
	return true
}

// placedRecord is a record written by the commit under way, at off.
type placedRecord struct {
	off int64
	r   record
}

// remember puts the records just written into s.recent as a subscription
// would decode them, before the subscriptions are woken: each of them
// (every read model, indexer and the relay) then finds them there instead
// of reading the log and decoding them again (issue 13's cost per
// callback). The copies own their bytes, all in one buffer per commit:
// the callers' are theirs again once Append returns.
func (s *Store) remember(placed []placedRecord) {
	n := 0
	for _, p := range placed {
		for _, e := range p.r.events {
			n += len(e.data)
		}
	}
	arena := make([]byte, 0, n)
	for _, p := range placed {
		r := p.r
		r.events = make([]event, len(p.r.events))
		var lastMeta, lastCopy map[string]string
		for i, e := range p.r.events {
			start := len(arena)
			arena = append(arena, e.data...)
			e.data = arena[start:len(arena):len(arena)]
			e.sid = e.id.String()
			if e.meta != nil {
				// One map for the events of one Execute (eventstore.Encode):
				// copied once for them all.
				if !sameMap(e.meta, lastMeta) {
					lastMeta, lastCopy = e.meta, maps.Clone(e.meta)
				}
				e.meta = lastCopy
			}
			r.events[i] = e
		}
		s.recent.put(p.off, &r)
	}
}

// sameMap says whether a and b are the same map (not equal ones).
func sameMap(a, b map[string]string) bool {
	return b != nil && reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}
