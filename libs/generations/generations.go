// Package generations bounds a map of what was used lately without a list:
// two generations of a map, the current one taking new entries; when it
// holds Size it becomes the previous one and the older is dropped. An
// entry lives between Size and 2×Size puts, longer when it is kept (Keep)
// — a CLOCK-like approximation of LRU. Caches of decoded records, opened
// events and recent facts share it.
package generations

// Map is not safe for concurrent use: its owner holds its own lock (Get
// reads only, so a read lock will do; Keep and Put write).
type Map[K comparable, V any] struct {
	// Size is the entries of one generation; a new one is made with room
	// for them.
	Size      int
	cur, prev map[K]V
}

// Get returns the entry of k, if either generation holds it.
func (m *Map[K, V]) Get(k K) (V, bool) {
	if v, ok := m.cur[k]; ok {
		return v, true
	}
	v, ok := m.prev[k]
	return v, ok
}

// Keep is Get that moves an entry of the previous generation to the
// current one: what is read stays.
func (m *Map[K, V]) Keep(k K) (V, bool) {
	if v, ok := m.cur[k]; ok {
		return v, true
	}
	v, ok := m.prev[k]
	if ok {
		m.Put(k, v)
	}
	return v, ok
}

// Put sets the entry of k in the current generation.
func (m *Map[K, V]) Put(k K, v V) {
	if m.cur == nil || len(m.cur) >= m.Size {
		m.prev, m.cur = m.cur, make(map[K]V, m.Size)
	}
	m.cur[k] = v
}

// Clear forgets every entry.
func (m *Map[K, V]) Clear() { m.cur, m.prev = nil, nil }
