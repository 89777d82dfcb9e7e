package personal

import (
	"sync"

	"github.com/ringback/ringback/libs/generations"
)

// openCache remembers events opened lately, so that an event read again
// (every command folds its whole stream; every consumer group reads every
// message) is not decoded and decrypted again. An entry is used only while
// the Sealer still holds, unexpired, every key its plaintext came from:
// once a key is destroyed (here, or by another replica and seen when the
// key's CacheTTL runs out) its entries are never served again.

type openCache struct {
	mu sync.Mutex
	m  generations.Map[string, openEntry] // by event id; an entry read stays
}

type openEntry struct {
	data []byte
	refs []keyRef
	// sealed is what was opened (or what sealing made): served only for
	// these same bytes, and an event copied whole into another (history's
	// trail) is stored sealed as it came (sealedOf).
	sealed []byte
}

// openCacheSize is the entries of one generation: under 1 KB each, so
// about 10 MB at most for both.
const openCacheSize = 8192

func (c *openCache) get(id string) (openEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m.Keep(id)
}

func (c *openCache) put(id string, e openEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m.Put(id, e)
}

// clear forgets everything (a contact was erased here).
func (c *openCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m.Clear()
}

// valid says whether every key of e is still held, unexpired, as the same
// cipher.
func (s *Sealer) valid(e openEntry) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range e.refs {
		c, ok := s.cache[r.id]
		if !ok || c.aead != r.aead || !now.Before(c.expires) {
			return false
		}
	}
	return true
}
