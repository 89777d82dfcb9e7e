package embedded

import "hash/maphash"

// streamTable finds a stream's index by its name. It holds every stream the
// store has ever seen, so it is most of the store's memory, and the garbage
// collector goes through it in every cycle: a map of names to pointers cost
// four objects and five pointers per stream (the index, its name, the map's
// key and value, the entries), and a collection's mark phase with a few
// hundred thousand callbacks' streams took long enough to show in intake's
// p99 (issue 12). Here the names are bytes in shared chunks, the indexes
// live in fixed chunks that never move (so a *streamIndex stays valid), and
// the map holds only hashes and numbers: one object (the entries) and two
// pointer words per stream are left for the collector.
type streamTable struct {
	seed   maphash.Seed
	byHash map[uint64]int32 // the name's hash: the newest stream with it (sameHash chains the others)
	chunks [][]streamIndex  // stream n is chunks[n>>streamChunkBits][n&streamChunkMask]
	n      int32
	names  [][]byte // the names, one after another; a chunk is never grown, so never moved
}

const (
	streamChunkBits = 12
	streamChunkMask = 1<<streamChunkBits - 1
	nameChunk       = 256 << 10
)

// nameRef locates a stream's name in the table's name chunks.
type nameRef struct {
	chunk, off, len uint32
}

func newStreamTable() streamTable {
	return streamTable{seed: maphash.MakeSeed(), byHash: make(map[uint64]int32)}
}

// get is the stream's index, nil when the table has no such stream.
func (t *streamTable) get(name string) *streamIndex {
	return t.lookup(name, maphash.String(t.seed, name))
}

// getOrAdd is the stream's index, added when the table has none.
func (t *streamTable) getOrAdd(name string) *streamIndex {
	h := maphash.String(t.seed, name)
	if st := t.lookup(name, h); st != nil {
		return st
	}
	return t.insert(name, h)
}

// lookup is get with the name's hash h (tests choose colliding ones).
func (t *streamTable) lookup(name string, h uint64) *streamIndex {
	n, ok := t.byHash[h]
	for ok && n >= 0 {
		st := t.at(n)
		if t.named(st, name) {
			return st
		}
		n = st.sameHash
	}
	return nil
}

// insert adds a stream named name, with hash h, that lookup did not find.
func (t *streamTable) insert(name string, h uint64) *streamIndex {
	prev, ok := t.byHash[h]
	if !ok {
		prev = -1
	}
	n := t.n
	if int(n)>>streamChunkBits == len(t.chunks) {
		t.chunks = append(t.chunks, make([]streamIndex, 1<<streamChunkBits))
	}
	t.n++
	t.byHash[h] = n
	st := t.at(n)
	*st = streamIndex{nameRef: t.keep(name), sameHash: prev}
	return st
}

func (t *streamTable) at(n int32) *streamIndex {
	return &t.chunks[n>>streamChunkBits][n&streamChunkMask]
}

// named says whether st is named name (the comparison makes no copy).
func (t *streamTable) named(st *streamIndex, name string) bool {
	r := st.nameRef
	return string(t.names[r.chunk][r.off:r.off+r.len]) == name
}

// keep copies name into the name chunks.
func (t *streamTable) keep(name string) nameRef {
	last := len(t.names) - 1
	if last < 0 || len(t.names[last])+len(name) > cap(t.names[last]) {
		t.names = append(t.names, make([]byte, 0, max(nameChunk, len(name))))
		last++
	}
	off := len(t.names[last])
	t.names[last] = append(t.names[last], name...)
	return nameRef{chunk: uint32(last), off: uint32(off), len: uint32(len(name))}
}

// len is the number of streams.
func (t *streamTable) len() int { return int(t.n) }
