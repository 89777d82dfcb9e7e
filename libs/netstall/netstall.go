// Package netstall shows a server to its clients as a stall does (a
// stalled disk, a partition with no reset, a long pause): every byte held,
// both ways, for as long as a test says, with every connection left open.
// A test wraps the server's listener (Listener) or passes its own proxy's
// bytes through a Gate.
package netstall

import (
	"net"
	"sync"
	"time"
)

// Gate holds the bytes passing it while it is held. The zero Gate is open.
type Gate struct{ mu sync.RWMutex }

// Pass returns once the gate is open: at once, or when a stall ends.
func (g *Gate) Pass() {
	g.mu.RLock()
	g.mu.RUnlock() //nolint:staticcheck // passing is the point: wait out a stall, hold nothing
}

// Hold stalls every byte from now until release (which may be called more
// than once).
func (g *Gate) Hold() (release func()) {
	g.mu.Lock()
	return sync.OnceFunc(g.mu.Unlock)
}

// Stall holds every byte for d, and returns when the stall ends.
func (g *Gate) Stall(d time.Duration) {
	release := g.Hold()
	defer release()
	time.Sleep(d)
}

// Listener is l whose connections pass g with every byte, both ways: the
// server seen through a stall, with no proxy whose address the server
// would have to advertise (a Kafka broker, a KurrentDB node tell their
// clients where they are).
func Listener(l net.Listener, g *Gate) net.Listener { return listener{Listener: l, gate: g} }

type listener struct {
	net.Listener
	gate *Gate
}

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return conn{Conn: c, gate: l.gate}, nil
}

type conn struct {
	net.Conn
	gate *Gate
}

// Read holds what it read until a stall ends.
func (c conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.gate.Pass()
	return n, err
}

func (c conn) Write(b []byte) (int, error) {
	c.gate.Pass()
	return c.Conn.Write(b)
}
