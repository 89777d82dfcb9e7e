package eventstore

// Turns is how many streams of c a command holds or waits for.
func (c *Cache[S]) Turns() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.turns)
}
