// Package embedded is the single-node event store: one append-only log file
// in a directory, durable before an Append returns, with in-memory indexes
// rebuilt on open.
//
// Throughput comes from group commit: one writer goroutine takes every
// Append waiting at that moment, writes them as one frame and syncs once, so
// concurrent writers share the cost of a sync instead of skipping it
// (DESIGN.md, section 3). Reads go to the file (the page cache), so memory
// holds the indexes, not the events.
//
// It implements eventstore.Store and must not import another adapter or a
// service.
package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/generations"
)

// maxAppendBytes bounds one Append. EventStoreDB refuses appends above 1 MiB
// by default; the margin keeps tests that pass here from failing there only
// for a size far beyond anything a domain event needs.
const maxAppendBytes = 16 << 20

// Store is the embedded event store. Use Open; all methods are safe for
// concurrent use.
type Store struct {
	dir  string
	f    *os.File
	lock *os.File
	now  func() time.Time
	log  *slog.Logger

	reqs      chan *appendReq // unbuffered: a request received is a request answered
	closing   context.Context // done once Close is called
	stop      context.CancelFunc
	closeOnce sync.Once
	writer    sync.WaitGroup

	mu         sync.RWMutex
	streams    streamTable
	appends    appendLog     // every record in log order, durable or pending
	durable    int           // the first durable appends are synced: what readers may see
	durableSeq uint64        // sequence number of the last durable event
	wake       chan struct{} // closed and replaced whenever durable advances

	// ioMu lets Close wait for reads in flight before it closes the file.
	ioMu   sync.RWMutex
	closed bool

	cpMu sync.Mutex // serialises checkpoint saves, so none goes backwards

	recent recentRecords // decoded records the subscriptions share

	// leases live in memory: one process holds the store (the directory
	// lock), so no holder outlives them. Guarded by mu, which the writer
	// holds when it checks a fence.
	leases map[string]eventstore.Lease

	// Owned by the writer goroutine (and by Open before it starts).
	size    int64  // end of the log on disk
	alloc   int64  // end of the space reserved for it (preallocate), past size
	noAlloc bool   // the filesystem reserves nothing: the log grows as written
	lastSeq uint64 // last sequence number handed out, pending included
	failed  error  // a failed write or sync poisons the store until reopened

	sharedWait time.Duration // sharedSyncWait; tests set their own
	syncFirst  atomic.Pointer[func() error]
	metrics    *metrics       // nil: not counted (WithMetrics)
	metricsErr error          // WithMetrics could not register
	written    []*appendReq   // the writer's scratch: a commit's written appends
	placed     []placedRecord // and the records it wrote
	buf        []byte
	batch      []*appendReq
}

// streamIndex is one stream: entries[rev] locates the event at revision rev.
type streamIndex struct {
	nameRef  nameRef
	sameHash int32 // the stream before it in the table with its name's hash; -1: none
	entries  []entry
	// ids finds an event's revision by its id once the stream is longer
	// than searchedIDs; a shorter one, as most are (a callback's, a
	// contact's), is searched in entries. Event ids are scoped to their
	// stream, as EventStoreDB scopes them: the same id in two streams is
	// two events.
	ids map[uuid.UUID]eventstore.Revision
}

// searchedIDs is the length up to which a stream's ids are searched, not
// mapped: a few hundred bytes of entries read in a row cost less than a map
// per stream, and the entries hold no pointer for the collector to follow.
const searchedIDs = 32

type entry struct {
	seq uint64 // global sequence number
	rec int    // index in Store.appends
	id  uuid.UUID
}

// add appends the event at the stream's next revision.
func (st *streamIndex) add(e entry) {
	st.entries = append(st.entries, e)
	switch n := len(st.entries); {
	case n <= searchedIDs:
	case st.ids == nil:
		st.ids = make(map[uuid.UUID]eventstore.Revision, 2*n)
		for rev, e := range st.entries {
			st.ids[e.id] = eventstore.Revision(rev)
		}
	default:
		st.ids[e.id] = eventstore.Revision(n - 1)
	}
}

// revisionOf is the revision of the stream's event with id, if it has one.
func (st *streamIndex) revisionOf(id uuid.UUID) (eventstore.Revision, bool) {
	if st.ids != nil {
		rev, ok := st.ids[id]
		return rev, ok
	}
	for rev := range st.entries {
		if st.entries[rev].id == id {
			return eventstore.Revision(rev), true
		}
	}
	return 0, false
}

// appendLoc locates one record (one Append) in the log.
type appendLoc struct {
	off      int64
	firstSeq uint64
	size     uint32
	count    uint32
}

func (l appendLoc) lastSeq() uint64 { return l.firstSeq + uint64(l.count) - 1 }

// Option configures Open.
type Option func(*Store)

// WithClock sets the clock that stamps RecordedEvent.Time (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithLogger sets where the store reports what it repaired on open (default:
// discard).
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// Open opens or creates the store in dir. It holds an exclusive lock on the
// directory until Close: a second Open, from this or another process, fails
// with ErrLocked. A torn tail left by a crash is truncated; other damage is
// ErrCorrupt.
func Open(dir string, opts ...Option) (*Store, error) {
	s := &Store{
		dir:     dir,
		now:     time.Now,
		log:     slog.New(slog.DiscardHandler),
		reqs:    make(chan *appendReq),
		streams: newStreamTable(),
		wake:    make(chan struct{}),
		leases:  make(map[string]eventstore.Lease),
		recent:  recentRecords{m: generations.Map[int64, *record]{Size: recentSize}},

		sharedWait: sharedSyncWait,
	}
	for _, o := range opts {
		o(s)
	}
	if s.metricsErr != nil {
		return nil, fmt.Errorf("open event store: metrics: %w", s.metricsErr)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open event store: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open event store %s: %w", dir, err)
	}
	s.lock = lock
	if err := s.load(); err != nil {
		if s.f != nil {
			s.f.Close()
		}
		lock.Close()
		return nil, fmt.Errorf("open event store %s: %w", dir, err)
	}
	s.closing, s.stop = context.WithCancel(context.Background())
	s.writer.Add(1)
	go s.run()
	return s, nil
}

// load opens the log, rebuilds the indexes and truncates a torn tail.
func (s *Store) load() error {
	path := filepath.Join(s.dir, logName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	s.f = f
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size < len64(magic) {
		// New, or a crash while creating it: start over.
		head := make([]byte, size)
		if _, err := f.ReadAt(head, 0); err != nil {
			return fmt.Errorf("read %s: %w", logName, err)
		}
		if !bytes.HasPrefix([]byte(magic), head) {
			return fmt.Errorf("%s is not an event log: %w", logName, ErrCorrupt)
		}
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.WriteAt([]byte(magic), 0); err != nil {
			return err
		}
		if err := syncData(f); err != nil {
			return err
		}
		// The new name must survive a crash too, not just the bytes.
		if err := syncDir(s.dir); err != nil {
			return err
		}
		s.size = len64(magic)
		return nil
	}
	head := make([]byte, len(magic))
	if _, err := f.ReadAt(head, 0); err != nil {
		return fmt.Errorf("read %s: %w", logName, err)
	}
	if string(head) != magic {
		return fmt.Errorf("%s is not an event log: %w", logName, ErrCorrupt)
	}
	end, err := scanLog(f, size, s.loadFrame)
	if err != nil {
		return err
	}
	if end < size {
		// Zeros only: the space reserved ahead of the log (preallocate)
		// when the process stopped without Close. Anything else was a
		// write the crash cut short, never acknowledged.
		zeros, err := allZero(nil, io.NewSectionReader(f, end, size-end))
		if err != nil {
			return fmt.Errorf("read the tail of %s: %w", logName, err)
		}
		if err := f.Truncate(end); err != nil {
			return fmt.Errorf("truncate torn tail: %w", err)
		}
		if err := syncData(f); err != nil {
			return fmt.Errorf("truncate torn tail: %w", err)
		}
		if !zeros {
			s.log.Warn("event store truncated a torn tail left by a crash",
				"dir", s.dir, "offset", end, "bytes", size-end)
		}
	}
	s.size = end
	s.durable = s.appends.len()
	s.durableSeq = s.lastSeq
	return nil
}

// loadFrame indexes the records of one intact frame.
func (s *Store) loadFrame(off int64, payload []byte) error {
	for pos := 0; pos < len(payload); {
		r, n, err := decodeRecord(payload[pos:], false)
		if err != nil {
			return fmt.Errorf("record at %d: %w: %w", off+frameHeader+int64(pos), err, ErrCorrupt)
		}
		st := s.streams.get(r.stream)
		have := uint64(0)
		if st != nil {
			have = uint64(len(st.entries))
		}
		if r.firstSeq != s.lastSeq+1 || r.firstRev != have {
			return fmt.Errorf("record at %d: sequence %d revision %d, want %d and %d: %w",
				off+frameHeader+int64(pos), r.firstSeq, r.firstRev, s.lastSeq+1, have, ErrCorrupt)
		}
		s.index(&r, appendLoc{off: off + frameHeader + int64(pos), size: uint32(n)})
		pos += n
	}
	return nil
}

// index adds a record to the indexes; the caller holds mu or owns s.
func (s *Store) index(r *record, loc appendLoc) {
	st := s.streams.getOrAdd(r.stream)
	loc.firstSeq, loc.count = r.firstSeq, uint32(len(r.events))
	rec := s.appends.add(loc)
	for i := range r.events {
		st.add(entry{seq: r.firstSeq + uint64(i), rec: rec, id: r.events[i].id})
	}
	s.lastSeq = r.firstSeq + uint64(len(r.events)) - 1
}

// SyncFirst names what the writer makes durable before it writes each
// batch: the key log's deferred puts (personal.KeyLog.DeferSync), so an
// event sealed with a new key is never durable without its key, and the
// two share one round of syncs. A failing fn fails the batch, and the
// store stays usable (nothing of the batch was indexed or written).
func (s *Store) SyncFirst(fn func() error) { s.syncFirst.Store(&fn) }

// Close stops the writer after the batch in flight, ends subscriptions with
// eventstore.ErrClosed, closes the file and releases the directory lock.
// Closing again returns nil.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.stop()
		s.writer.Wait()
		s.ioMu.Lock()
		s.closed = true
		s.ioMu.Unlock()
		if s.alloc > s.size && s.failed == nil {
			// The space reserved past the end goes: a closed log is its
			// frames and nothing after them.
			err = s.f.Truncate(s.size)
			if err == nil {
				err = syncData(s.f)
			}
		}
		err = errors.Join(err, s.f.Close(), s.lock.Close())
		if err != nil {
			err = fmt.Errorf("close event store %s: %w", s.dir, err)
		}
	})
	return err
}

// Append implements eventstore.Store. It returns once the events are synced
// to disk, sharing the sync with every Append waiting at the same time (and
// made with eventstore.WithSharedSync, waiting up to sharedSyncWait for one). If
// ctx ends while the append is in flight the outcome is unknown; appending
// the same events at the same expectation again is then safe.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	evs, err := prepare(stream, expected, events)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	req := &appendReq{stream: stream, expected: expected, events: evs, patient: eventstore.SharedSyncOf(ctx),
		done: make(chan appendResp, 1)}
	if f, ok := eventstore.FenceOf(ctx); ok {
		req.fence = &f
	}
	resp, err := s.submit(ctx, req)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	return resp.res, nil
}

// submit hands req to the writer and waits for its answer.
func (s *Store) submit(ctx context.Context, req *appendReq) (appendResp, error) {
	select {
	case s.reqs <- req:
	case <-s.closing.Done():
		return appendResp{}, eventstore.ErrClosed
	case <-ctx.Done():
		return appendResp{}, ctx.Err()
	}
	select {
	case resp := <-req.done:
		return resp, resp.err
	case <-ctx.Done():
		return appendResp{}, fmt.Errorf("outcome unknown: %w", ctx.Err())
	}
}

// AppendParts implements eventstore.PartsAppender: the parts are decided
// together and written in one frame, so a crash keeps all or none, and
// they share one sync.
func (s *Store) AppendParts(ctx context.Context, parts ...eventstore.Part) ([]eventstore.AppendResult, error) {
	if err := eventstore.CheckParts(parts); err != nil {
		return nil, err
	}
	reqs := make([]*appendReq, len(parts))
	for i, p := range parts {
		evs, err := prepare(p.Stream, p.Expected, p.Events)
		if err != nil {
			return nil, fmt.Errorf("append %s: %w", p.Stream, err)
		}
		reqs[i] = &appendReq{stream: p.Stream, expected: p.Expected, events: evs}
	}
	req := reqs[0]
	req.rest, req.done = reqs[1:], make(chan appendResp, 1)
	if len(req.rest) == 0 {
		req.rest = nil
	}
	if f, ok := eventstore.FenceOf(ctx); ok {
		for _, r := range reqs {
			r.fence = &f
		}
	}
	resp, err := s.submit(ctx, req)
	switch {
	case err != nil:
		return nil, fmt.Errorf("append parts: %w", err)
	case req.rest == nil:
		return []eventstore.AppendResult{resp.res}, nil
	}
	return resp.parts, nil
}

// prepare validates an append and converts its events.
func prepare(stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) ([]event, error) {
	switch {
	case stream == "":
		return nil, errors.New("empty stream name")
	case expected < eventstore.NoStream:
		return nil, fmt.Errorf("invalid expected revision %d", expected)
	case len(events) == 0:
		return nil, errors.New("no events")
	}
	evs := make([]event, len(events))
	seen := make(map[uuid.UUID]struct{}, len(events))
	for i, e := range events {
		// Ids must be UUIDs because EventStoreDB requires them: a single-node
		// test must fail the way a distributed deployment would.
		id, err := uuid.Parse(e.ID)
		if err != nil {
			return nil, fmt.Errorf("event %d: id %q: %w", i, e.ID, err)
		}
		if _, dup := seen[id]; dup {
			return nil, fmt.Errorf("event %d: id %s repeated in one append", i, id)
		}
		seen[id] = struct{}{}
		if e.Type == "" {
			return nil, fmt.Errorf("event %d: empty type", i)
		}
		evs[i] = event{id: id, typ: e.Type, data: e.Data, meta: e.Metadata}
	}
	if n := encodedSize(stream, evs); n > maxAppendBytes {
		return nil, fmt.Errorf("append of about %d bytes exceeds %d", n, maxAppendBytes)
	}
	return evs, nil
}

// ReadStream implements eventstore.Store. It sees only synced events.
// Like subscriptions it shares decoded records (recentRecords): a command
// loads a stream whose last events were just synced and read by every
// subscription, and reading them from the file again (with the other
// streams' records between them) was a fifth of what the platform
// allocated per callback. Callers must not modify Data or Metadata in place.
func (s *Store) ReadStream(ctx context.Context, stream string, from eventstore.Revision) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	select {
	case <-s.closing.Done():
		return nil, fmt.Errorf("read %s: %w", stream, eventstore.ErrClosed)
	default:
	}
	s.mu.RLock()
	var (
		locs   []appendLoc
		events int
	)
	if st := s.streams.get(stream); st != nil {
		ents := st.entries
		// Pending events of the batch being synced are indexed already but
		// not yet durable; they are always the stream's last ones.
		n := sort.Search(len(ents), func(i int) bool { return ents[i].seq > s.durableSeq })
		events = max(n-int(min(from, uint64(n))), 0)
		for i := from; i < uint64(n); i++ {
			if loc := s.appends.at(ents[i].rec); len(locs) == 0 || locs[len(locs)-1] != loc {
				locs = append(locs, loc)
			}
		}
	}
	s.mu.RUnlock()
	if len(locs) == 0 {
		return nil, nil
	}
	out := make([]eventstore.RecordedEvent, 0, events)
	err := s.readRecords(ctx, locs, true, nil, func(r *record) error {
		for i := range r.events {
			if rev := r.firstRev + uint64(i); rev >= from {
				out = append(out, recorded(r, i))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	return out, nil
}

// recorded converts the i-th event of r.
func recorded(r *record, i int) eventstore.RecordedEvent {
	e := &r.events[i]
	seq := r.firstSeq + uint64(i)
	id := e.sid
	if id == "" {
		id = e.id.String()
	}
	return eventstore.RecordedEvent{
		Stream:   r.stream,
		Revision: r.firstRev + uint64(i),
		Position: eventstore.Position{Commit: seq, Prepare: seq},
		ID:       id,
		Type:     e.typ,
		Data:     e.data,
		Metadata: e.meta,
		Time:     time.Unix(0, r.time).UTC(),
	}
}

// readRecords decodes the records at locs (in log order), coalescing
// neighbours into one read, and calls fn for each. With shared, records
// decoded lately by another caller are taken from s.recent, and those
// decoded here are put there: fn must then not modify them. scratch, if
// not nil, is a read buffer kept by the caller between calls.
func (s *Store) readRecords(ctx context.Context, locs []appendLoc, shared bool, scratch *[]byte, fn func(*record) error) error {
	const maxChunk, maxGap = 1 << 20, 16 << 10
	var buf []byte
	if scratch != nil {
		buf = *scratch
		defer func() {
			if cap(buf) <= maxScratch { // a catch-up's megabyte is not kept
				*scratch = buf
			}
		}()
	}
	for i := 0; i < len(locs); {
		if err := ctx.Err(); err != nil {
			return err
		}
		if shared {
			if r := s.recent.get(locs[i].off); r != nil {
				if err := fn(r); err != nil {
					return err
				}
				i++
				continue
			}
		}
		start := locs[i].off
		end := start + int64(locs[i].size)
		j := i + 1
		for j < len(locs) && locs[j].off-end <= maxGap && locs[j].off+int64(locs[j].size)-start <= maxChunk {
			end = locs[j].off + int64(locs[j].size)
			j++
		}
		if int64(cap(buf)) < end-start {
			buf = make([]byte, end-start)
		}
		buf = buf[:end-start]
		if err := s.readAt(buf, start); err != nil {
			return err
		}
		for _, l := range locs[i:j] {
			b := buf[l.off-start : l.off-start+int64(l.size)]
			r, _, err := decodeRecord(b, true)
			if err != nil {
				return fmt.Errorf("record at %d: %w: %w", l.off, err, ErrCorrupt)
			}
			rp := &r
			if shared {
				if c := s.recent.get(l.off); c != nil {
					rp = c // decoded meanwhile by another: one copy for all
				} else {
					s.recent.put(l.off, rp)
				}
			}
			if err := fn(rp); err != nil {
				return err
			}
		}
		i = j
	}
	return nil
}

// maxScratch is the most a subscription keeps of its read buffer between
// reads: live, a read is the records of a sync or two.
const maxScratch = 64 << 10

// readAt reads from the log unless the store is closed.
func (s *Store) readAt(b []byte, off int64) error {
	s.ioMu.RLock()
	defer s.ioMu.RUnlock()
	if s.closed {
		return eventstore.ErrClosed
	}
	if _, err := s.f.ReadAt(b, off); err != nil {
		return fmt.Errorf("read log at %d: %w", off, err)
	}
	return nil
}

var _ eventstore.Store = (*Store)(nil)
