package personal

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
)

// KeyLog keeps blobs as records appended to one file, <dir>/log, for the
// one process that owns a data directory (the embedded store's): a put
// waits for a sync of the file that the puts of every concurrent caller
// share, where the directory adapter (Dir) syncs a file of its own for
// each, two per new callback, which bounded intake near the disk's sync
// rate (issue 12).
//
// A record is
//
//	u32 body length | u32 CRC-32C of body | body: ns (1) | name hash (16) | value
//
// Names are kept as a hash (as Dir names its files), so a correlation or
// key id is not stored. Delete overwrites the record's CRC and body with
// zeros where it lies and syncs, so a destroyed key is gone from the file
// (copy-on-write file systems and snapshots keep old blocks: the master key
// protects those). On open, a record cut short at the end (a crash during
// a put, never acknowledged) is truncated, and a record whose CRC fails
// (an overwrite cut short) is zeroed: both read as absent.
//
// The process that opens it first holds it (a flock); another opens it
// read-only (a `ringback recording` beside the running server), seeing
// records as they are synced, and fails to put or delete.
//
// Blobs put by an earlier version in the same directory as files (Dir) are
// still read and deleted there.
//
// Its cost: an index in memory of every name (about 40 bytes each, so 80
// per new callback of a new contact), and about 90 bytes of file for each
// blob, where Dir took a file, an inode and a block each.
type KeyLog struct {
	dir      *Dir
	legacy   map[byte]bool // namespaces with files of Dir's
	f        *os.File
	lock     *os.File // nil: read-only
	readOnly bool

	mu         sync.Mutex
	size       int64                  // end of the records (synced or being written)
	scanned    int64                  // read-only: what scan has read
	index      map[logKey]int64       // durable records, by name → offset
	pending    map[logKey]*pendingPut // written by the running batch or queued
	queue      []*pendingPut          // not yet written
	committing bool

	// Deferred syncs (DeferSync): puts are written, not synced, and Sync
	// makes every written one durable.
	deferred bool
	written  uint64     // batches written
	synced   uint64     // batches a sync has covered
	broken   error      // a failed sync: the file and the disk may disagree
	syncMu   sync.Mutex // one Sync at a time
}

type logKey [17]byte // ns code, name hash

type pendingPut struct {
	key   logKey
	value []byte
	off   int64
	err   error
	done  chan struct{} // closed once durable (or failed)
	lead  chan struct{} // closed when this caller is to write the next batch
}

const (
	logHeader  = 8
	logMinBody = 17
	logMaxBody = 1 << 16 // a wrapped key, a link, the secret: tens of bytes
)

var (
	logCRC = crc32.MakeTable(crc32.Castagnoli)
	logNS  = map[string]byte{"keys": 1, "links": 2, "master": 3}
)

// ErrReadOnly is returned by a KeyLog's writes when another process holds it.
var ErrReadOnly = errors.New("key log held by another process: read-only here")

// OpenKeyLog opens the blobs under dir (made if missing): its log, and the
// files of an earlier Dir there. Close releases it.
func OpenKeyLog(dir string) (*KeyLog, error) {
	d, err := OpenDir(dir)
	if err != nil {
		return nil, err
	}
	l := &KeyLog{dir: d, legacy: map[byte]bool{}, index: map[logKey]int64{}, pending: map[logKey]*pendingPut{}}
	for ns, code := range logNS {
		ents, err := os.ReadDir(filepath.Join(dir, ns))
		if err != nil {
			return nil, fmt.Errorf("key directory: %w", err)
		}
		l.legacy[code] = len(ents) > 0
	}
	if l.lock, err = lockFile(filepath.Join(dir, "log.lock")); errors.Is(err, errLocked) {
		l.readOnly = true
	} else if err != nil {
		return nil, fmt.Errorf("key log: %w", err)
	}
	flag := os.O_RDWR | os.O_CREATE
	if l.readOnly {
		flag = os.O_RDONLY
	}
	if l.f, err = os.OpenFile(filepath.Join(dir, "log"), flag, 0o600); err != nil {
		l.closeLock()
		return nil, fmt.Errorf("key log: %w", err)
	}
	if err := l.recover(); err != nil {
		l.Close()
		return nil, fmt.Errorf("key log %s: %w", dir, err)
	}
	return l, nil
}

// DeferSync makes puts return once written, before they are durable: the
// caller promises to call Sync before it makes durable anything that names
// a key put (an event sealed with it). The embedded event store does, in
// its writer, before each batch: a new contact's callback then waits for
// one sync of the two files together instead of the key's sync and then
// the event's (issue 12). A crash loses only puts no durable event names,
// and the next put of the name writes a fresh one.
//
// Call it once, before puts that may be deferred; Delete still syncs.
func (l *KeyLog) DeferSync() {
	l.mu.Lock()
	l.deferred = true
	l.mu.Unlock()
}

// Sync makes every put written so far durable. It is cheap when none is
// new. After a failed sync the log refuses puts: retrying can report
// success for data the disk lost.
func (l *KeyLog) Sync() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	written, synced, broken := l.written, l.synced, l.broken
	l.mu.Unlock()
	if broken != nil || written == synced {
		return broken
	}
	err := syncData(l.f)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.broken = fmt.Errorf("key log unusable after a failed sync, restart: %w", err)
		return l.broken
	}
	l.synced = written
	return nil
}

// Close implements io.Closer. Deferred puts are synced first, so that the
// store closing after it (its held appends) finds nothing left to sync.
func (l *KeyLog) Close() error {
	err := l.Sync()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.closeLock()
	return err
}

func (l *KeyLog) closeLock() {
	if l.lock != nil {
		_ = l.lock.Close()
	}
}

func keyOf(ns, name string) (logKey, error) {
	code, ok := logNS[ns]
	if !ok {
		return logKey{}, fmt.Errorf("key log: no namespace %q", ns)
	}
	var k logKey
	k[0] = code
	h := sha256.Sum256([]byte(name))
	copy(k[1:], h[:16])
	return k, nil
}

// recover reads the log into the index. Writable, it makes the file end
// after its last whole record and zeroes the records whose CRC fails.
func (l *KeyLog) recover() error {
	suspects, end, err := l.scan(0)
	if err != nil || l.readOnly {
		return err
	}
	fi, err := l.f.Stat()
	if err != nil {
		return err
	}
	if len(suspects) == 0 && fi.Size() == end {
		return nil
	}
	for _, off := range suspects {
		if err := l.zero(off); err != nil {
			return err
		}
	}
	if err := l.f.Truncate(end); err != nil {
		return err
	}
	return syncData(l.f)
}

// scan indexes the records from off on, returning those whose CRC fails
// and where the records end: after the last whole record whose CRC holds
// (or a deleted one), so that a torn write at the end goes as a whole.
// Caller holds mu, or owns l.
func (l *KeyLog) scan(off int64) (suspects []int64, end int64, err error) {
	fi, err := l.f.Stat()
	if err != nil {
		return nil, off, err
	}
	size := fi.Size()
	buf := make([]byte, 0, 64<<10)
	end = off
	for off+logHeader <= size {
		var h [logHeader]byte
		if _, err := l.f.ReadAt(h[:], off); err != nil {
			return nil, off, err
		}
		n := int64(binary.LittleEndian.Uint32(h[:4]))
		if n < logMinBody || n > logMaxBody || off+logHeader+n > size {
			break // cut short: the end of the last put, never acknowledged
		}
		body := buf[:n]
		if _, err := l.f.ReadAt(body, off+logHeader); err != nil {
			return nil, off, err
		}
		switch crc := binary.LittleEndian.Uint32(h[4:]); {
		case crc == 0 && allZero(body): // deleted
			end = off + logHeader + n
		case crc32.Checksum(body, logCRC) != crc:
			if l.readOnly {
				// Maybe being written by the process that holds the
				// log: read again from here next time.
				l.size, l.scanned = off, off
				return nil, off, nil
			}
			suspects = append(suspects, off)
		default:
			var k logKey
			copy(k[:], body)
			// A later record of a name is the one that counts: a put
			// after a delete whose overwrite a crash cut short, or (read
			// only) one put after a delete seen earlier. The earlier one
			// goes as a delete would have taken it.
			if prev, dup := l.index[k]; dup && !l.readOnly {
				suspects = append(suspects, prev)
			}
			l.index[k] = off
			end = off + logHeader + n
		}
		off += logHeader + n
	}
	for len(suspects) > 0 && suspects[len(suspects)-1] >= end {
		suspects = suspects[:len(suspects)-1] // truncated
	}
	l.size, l.scanned = end, end
	return suspects, end, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// read returns the value of the record at off, ErrNoKey when it was
// deleted meanwhile.
func (l *KeyLog) read(k logKey, off int64) ([]byte, error) {
	var h [logHeader]byte
	if _, err := l.f.ReadAt(h[:], off); err != nil {
		return nil, fmt.Errorf("key log: %w", err)
	}
	n := int64(binary.LittleEndian.Uint32(h[:4]))
	if n < logMinBody || n > logMaxBody {
		return nil, fmt.Errorf("key log: record at %d of %d bytes", off, n)
	}
	body := make([]byte, n)
	if _, err := l.f.ReadAt(body, off+logHeader); err != nil {
		return nil, fmt.Errorf("key log: %w", err)
	}
	if crc32.Checksum(body, logCRC) != binary.LittleEndian.Uint32(h[4:]) || logKey(body[:logMinBody]) != k {
		return nil, ErrNoKey // zeroed, or being zeroed
	}
	return body[logMinBody:], nil
}

// lookup finds k: its durable offset, or the put under way. Caller holds mu.
func (l *KeyLog) lookup(k logKey) (int64, *pendingPut, bool) {
	if off, ok := l.index[k]; ok {
		return off, nil, true
	}
	if p := l.pending[k]; p != nil {
		return 0, p, true
	}
	if l.readOnly && l.refresh() == nil {
		if off, ok := l.index[k]; ok {
			return off, nil, true
		}
	}
	return 0, nil, false
}

// refresh reads what the writing process has appended since. Caller holds mu.
func (l *KeyLog) refresh() error {
	_, _, err := l.scan(l.scanned)
	return err
}

// Get implements Blobs.
func (l *KeyLog) Get(ctx context.Context, ns, name string) ([]byte, error) {
	k, err := keyOf(ns, name)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	off, p, ok := l.lookup(k)
	l.mu.Unlock()
	switch {
	case p != nil:
		<-p.done
		return p.value, p.err
	case ok:
		v, err := l.read(k, off)
		if errors.Is(err, ErrNoKey) && l.readOnly {
			// Deleted since this process read the log: it may have been
			// put again further on.
			l.mu.Lock()
			err := l.refresh()
			again, ok := l.index[k]
			l.mu.Unlock()
			if err == nil && ok && again != off {
				return l.read(k, again)
			}
		}
		return v, err
	case l.legacy[k[0]]:
		return l.dir.Get(ctx, ns, name)
	}
	return nil, ErrNoKey
}

// PutIfAbsent implements Blobs.
func (l *KeyLog) PutIfAbsent(ctx context.Context, ns, name string, v []byte) ([]byte, error) {
	k, err := keyOf(ns, name)
	if err != nil {
		return nil, err
	}
	if len(v) > logMaxBody-logMinBody {
		return nil, fmt.Errorf("key log: value of %d bytes", len(v))
	}
	l.mu.Lock()
	off, p, ok := l.lookup(k)
	if !ok && l.legacy[k[0]] {
		if old, err := l.dir.Get(ctx, ns, name); !errors.Is(err, ErrNoKey) {
			l.mu.Unlock()
			return old, err
		}
	}
	switch {
	case p != nil:
		l.mu.Unlock()
		<-p.done
		return p.value, p.err
	case ok:
		l.mu.Unlock()
		return l.read(k, off)
	case l.readOnly:
		l.mu.Unlock()
		return nil, ErrReadOnly
	case l.broken != nil:
		l.mu.Unlock()
		return nil, l.broken
	}
	p = &pendingPut{key: k, value: v, done: make(chan struct{}), lead: make(chan struct{})}
	l.pending[k] = p
	l.queue = append(l.queue, p)
	if !l.committing {
		l.committing = true
		close(p.lead)
	}
	l.mu.Unlock()
	select {
	case <-p.done:
	case <-p.lead:
		l.commit()
	}
	return p.value, p.err
}

// commit is group commit: the caller writes every put queued, its own
// among them, with one write and one sync, and hands the next batch to
// the first put queued meanwhile, so that no caller writes more than one
// batch.
func (l *KeyLog) commit() {
	l.mu.Lock()
	batch, start := l.queue, l.size
	l.queue = nil
	var buf []byte
	for _, p := range batch {
		p.off = start + int64(len(buf))
		h := len(buf)
		buf = binary.LittleEndian.AppendUint32(buf, uint32(logMinBody+len(p.value)))
		buf = append(buf, 0, 0, 0, 0)
		buf = append(append(buf, p.key[:]...), p.value...)
		binary.LittleEndian.PutUint32(buf[h+4:], crc32.Checksum(buf[h+logHeader:], logCRC))
	}
	l.size = start + int64(len(buf))
	deferred := l.deferred
	l.mu.Unlock()

	_, err := l.f.WriteAt(buf, start)
	if err == nil && !deferred {
		err = syncData(l.f)
	}

	l.mu.Lock()
	if err != nil {
		err = fmt.Errorf("key log: %w", err)
		// Nothing of the batch was acknowledged: its bytes go, so the
		// next batch does not follow a torn one.
		if terr := l.f.Truncate(start); terr != nil {
			err = errors.Join(err, terr)
		}
		l.size = start
	} else if deferred {
		l.written++ // before the puts return: a Sync after covers them
	}
	for _, p := range batch {
		p.err = err
		delete(l.pending, p.key)
		if err == nil {
			l.index[p.key] = p.off
		}
		close(p.done)
	}
	if len(l.queue) > 0 {
		close(l.queue[0].lead)
	} else {
		l.committing = false
	}
	l.mu.Unlock()
}

// Delete implements Blobs.
func (l *KeyLog) Delete(ctx context.Context, ns, name string) error {
	k, err := keyOf(ns, name)
	if err != nil {
		return err
	}
	if l.readOnly {
		return ErrReadOnly
	}
	l.mu.Lock()
	for l.pending[k] != nil {
		p := l.pending[k]
		l.mu.Unlock()
		<-p.done
		l.mu.Lock()
	}
	off, ok := l.index[k]
	delete(l.index, k)
	l.mu.Unlock()
	if ok {
		if err := l.zero(off); err != nil {
			return fmt.Errorf("delete %s: %w", ns, err)
		}
		if err := syncData(l.f); err != nil {
			return fmt.Errorf("delete %s: %w", ns, err)
		}
	}
	if l.legacy[k[0]] {
		return l.dir.Delete(ctx, ns, name)
	}
	return nil
}

// zero overwrites the CRC and body of the record at off, in place.
func (l *KeyLog) zero(off int64) error {
	var h [logHeader]byte
	if _, err := l.f.ReadAt(h[:], off); err != nil {
		return err
	}
	n := int(binary.LittleEndian.Uint32(h[:4]))
	_, err := l.f.WriteAt(make([]byte, 4+n), off+4)
	return err
}
