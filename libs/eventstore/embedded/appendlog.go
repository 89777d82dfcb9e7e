package embedded

import "sort"

// appendLog is every record's location in log order, durable or pending, in
// fixed chunks. A store holds a location for each of its records, millions
// in a long-lived one: in one slice, each growth allocated twice the slice
// and copied it with the store's lock held (every append and read waiting
// meanwhile), and up to half of it stayed unused. A location never changes
// once added and a chunk never moves, so a view taken under the lock is
// read outside it.
type appendLog struct {
	appendView // all of it: n is the log's length
}

const (
	appendChunkBits = 13 // 8,192 locations, 192 KiB
	appendChunkMask = 1<<appendChunkBits - 1
)

func (l *appendLog) len() int { return l.n }

// add appends loc and returns its index.
func (l *appendLog) add(loc appendLoc) int {
	i := l.n
	if i>>appendChunkBits == len(l.chunks) {
		l.chunks = append(l.chunks, make([]appendLoc, 1<<appendChunkBits))
	}
	l.chunks[i>>appendChunkBits][i&appendChunkMask] = loc
	l.n++
	return i
}

// view is the first n locations (n at most len), for reading after the
// caller lets go of the lock it took the view under.
func (l *appendLog) view(n int) appendView { return appendView{chunks: l.chunks, n: n} }

// appendView is a prefix of an appendLog that no append changes.
type appendView struct {
	chunks [][]appendLoc
	n      int
}

func (v appendView) at(i int) appendLoc { return v.chunks[i>>appendChunkBits][i&appendChunkMask] }

// search is the smallest index in [0, n) at which f is true, or n (f false
// then true, as sort.Search).
func (v appendView) search(f func(appendLoc) bool) int {
	return sort.Search(v.n, func(i int) bool { return f(v.at(i)) })
}

// each calls fn with the locations from index from to n, a chunk's run at
// a time, until fn fails.
func (v appendView) each(from int, fn func([]appendLoc) error) error {
	for i := from; i < v.n; {
		c, off := i>>appendChunkBits, i&appendChunkMask
		end := min(len(v.chunks[c]), off+(v.n-i))
		if err := fn(v.chunks[c][off:end]); err != nil {
			return err
		}
		i += end - off
	}
	return nil
}
