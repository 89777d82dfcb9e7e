package queue

// indexed is a binary min-heap that tells each item where it sits, so an
// item can be removed or re-ordered in O(log n) when it changes (an agent
// taking an offer, a callback being cancelled) instead of the heap being
// rebuilt or scanned.
type indexed[T any] struct {
	items []T
	less  func(a, b T) bool
	// at records an item's position; -1 when it leaves the heap.
	at func(item T, i int)
}

func (h *indexed[T]) Len() int { return len(h.items) }

// Push adds x.
func (h *indexed[T]) Push(x T) {
	h.items = append(h.items, x)
	h.at(x, len(h.items)-1)
	h.up(len(h.items) - 1)
}

// Remove takes out the item at position i.
func (h *indexed[T]) Remove(i int) {
	last := len(h.items) - 1
	x := h.items[i]
	if i != last {
		h.swap(i, last)
	}
	var zero T
	h.items[last] = zero // do not keep a removed item reachable
	h.items = h.items[:last]
	h.at(x, -1)
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
}

// Top is the least item.
func (h *indexed[T]) Top() (T, bool) {
	if len(h.items) == 0 {
		var zero T
		return zero, false
	}
	return h.items[0], true
}

// First is the least item skip does not refuse. It walks the heap best
// first, so it looks at about as many items as it skips (times log of that),
// not at the whole heap: skipped items are few (the agents who passed on a
// callback, the actions of one dispatch batch).
func (h *indexed[T]) First(skip func(T) bool) (T, bool) {
	var zero T
	if len(h.items) == 0 {
		return zero, false
	}
	if skip == nil || !skip(h.items[0]) {
		return h.items[0], true
	}
	// frontier is a small min-heap of positions whose parent was skipped.
	frontier := []int{0}
	lessAt := func(a, b int) bool { return h.less(h.items[frontier[a]], h.items[frontier[b]]) }
	for len(frontier) > 0 {
		i := frontier[0]
		last := len(frontier) - 1
		frontier[0] = frontier[last]
		frontier = frontier[:last]
		siftDown(len(frontier), 0, lessAt, func(a, b int) { frontier[a], frontier[b] = frontier[b], frontier[a] })
		if !skip(h.items[i]) {
			return h.items[i], true
		}
		for _, c := range [2]int{2*i + 1, 2*i + 2} {
			if c < len(h.items) {
				frontier = append(frontier, c)
				siftUp(len(frontier)-1, lessAt, func(a, b int) { frontier[a], frontier[b] = frontier[b], frontier[a] })
			}
		}
	}
	return zero, false
}

func (h *indexed[T]) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.at(h.items[i], i)
	h.at(h.items[j], j)
}

func (h *indexed[T]) lessAt(i, j int) bool { return h.less(h.items[i], h.items[j]) }

func (h *indexed[T]) up(i int) { siftUp(i, h.lessAt, h.swap) }

func (h *indexed[T]) down(i int) bool { return siftDown(len(h.items), i, h.lessAt, h.swap) }

func siftUp(i int, less func(i, j int) bool, swap func(i, j int)) {
	for i > 0 {
		p := (i - 1) / 2
		if !less(i, p) {
			return
		}
		swap(i, p)
		i = p
	}
}

// siftDown moves position i down and says whether it moved.
func siftDown(n, i int, less func(i, j int) bool, swap func(i, j int)) bool {
	start := i
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && less(r, c) {
			c = r
		}
		if !less(c, i) {
			break
		}
		swap(i, c)
		i = c
	}
	return i > start
}
