package embedded

import (
	"sync"

	"github.com/ringback/ringback/libs/generations"
)

// recentRecords keeps the records subscriptions read lately, decoded, by
// their offset in the log. Every subscription of a process (each service's
// read models, indexers and relay: about ten for the whole platform) reads
// every record just after it is synced; each read and decoded its own
// copy, half of all the platform allocated per callback (issue 12). A
// record never changes once written, so one decoded copy serves all.
type recentRecords struct {
	mu sync.Mutex
	m  generations.Map[int64, *record]
}

// recentSize is the records of one generation: a few KB each at most, so
// a few MB for both; subscriptions that lag more than that read the file.
const recentSize = 1024

func (c *recentRecords) get(off int64) *record {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, _ := c.m.Get(off)
	return r
}

func (c *recentRecords) put(off int64, r *record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m.Put(off, r)
}
