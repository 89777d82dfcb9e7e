package agentsession

import (
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/ringback/ringback/libs/httpx"
)

// streamCounts bounds the open event streams per agent and per client
// address (issue 16): every stream holds a goroutine, a buffer and a hub
// subscription, so one client must not open thousands. The zero value
// counts; limits come from Config (0: no limit).
type streamCounts struct {
	mu     sync.Mutex
	agents map[string]int
	addrs  map[string]int
}

// acquire takes a place for a stream of agent from r's address, or answers
// the 429 of the limit it would pass; release gives the place back.
func (c *streamCounts) acquire(cfg Config, agent string, r *http.Request) (release func(), err error) {
	addr, _, splitErr := net.SplitHostPort(r.RemoteAddr)
	if splitErr != nil {
		addr = r.RemoteAddr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.agents == nil {
		c.agents, c.addrs = map[string]int{}, map[string]int{}
	}
	if cfg.StreamsPerAgent > 0 && c.agents[agent] >= cfg.StreamsPerAgent {
		return nil, httpx.TooMany(fmt.Sprintf("this agent has %d event streams open already; close one", cfg.StreamsPerAgent))
	}
	if cfg.StreamsPerAddress > 0 && c.addrs[addr] >= cfg.StreamsPerAddress {
		return nil, httpx.TooMany(fmt.Sprintf("this address has %d event streams open already", cfg.StreamsPerAddress))
	}
	c.agents[agent]++
	c.addrs[addr]++
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.agents[agent]--; c.agents[agent] <= 0 {
			delete(c.agents, agent)
		}
		if c.addrs[addr]--; c.addrs[addr] <= 0 {
			delete(c.addrs, addr)
		}
	}, nil
}
