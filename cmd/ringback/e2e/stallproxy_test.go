package e2e

import (
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// stallProxy stands between the services and the shared PostgreSQL store
// and can hold every byte, both ways, for a while: the store as a fault
// shows it to its clients (a stalled disk, a failover, a partition), with
// every connection left open.
type stallProxy struct {
	ln       net.Listener
	upstream string
	gate     stallGate
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

// startStallProxy forwards to the server of the postgres:// URL db and
// returns the proxy and db's URL through it. It stops with the test.
func startStallProxy(t *testing.T, db string) (*stallProxy, string) {
	t.Helper()
	u, err := url.Parse(db)
	if err != nil {
		t.Fatalf("stall proxy: %v", err)
	}
	if u.Host == "" {
		t.Skip("the PostgreSQL server is reached through a socket directory: a TCP proxy cannot stand before it")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("stall proxy: %v", err)
	}
	p := &stallProxy{ln: ln, upstream: u.Host, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	u.Host = ln.Addr().String()
	return p, u.String()
}

func (p *stallProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, up) {
			return
		}
		p.wg.Go(func() { p.pipe(up, c) })
		p.wg.Go(func() { p.pipe(c, up) })
	}
}

// track records a connection pair, or closes it when the proxy is closed.
func (p *stallProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

// pipe copies from src to dst until either ends, passing the gate with
// every write; then it closes both, as a proxy whose peer hung up does.
func (p *stallProxy) pipe(dst, src net.Conn) {
	defer p.untrack(src, dst)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.gate.pass()
			_, werr := dst.Write(buf[:n])
			if werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *stallProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(p.conns, c)
	}
}

// stall holds every byte, both ways, for d.
func (p *stallProxy) stall(d time.Duration) { p.gate.stall(d) }

// stallGate holds bytes while stalled: it is held for writing while
// stalled, and every byte passes it for reading, so a stall holds each
// byte read or written after it began.
type stallGate struct{ mu sync.RWMutex }

func (g *stallGate) pass() {
	g.mu.RLock()
	g.mu.RUnlock() //nolint:staticcheck // passing is the point: wait out a stall, hold nothing
}

// stall holds every byte for d.
func (g *stallGate) stall(d time.Duration) {
	g.mu.Lock()
	time.Sleep(d)
	g.mu.Unlock()
}

// stallListener is a server's listener whose connections pass a gate with
// every byte, both ways: the server as a stall shows it to its clients,
// with no proxy whose address the server would have to advertise (a Kafka
// broker tells clients where it is).
type stallListener struct {
	net.Listener
	gate *stallGate
}

func (l stallListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return stallConn{Conn: c, gate: l.gate}, nil
}

type stallConn struct {
	net.Conn
	gate *stallGate
}

// Read holds what it read until a stall ends.
func (c stallConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.gate.pass()
	return n, err
}

func (c stallConn) Write(b []byte) (int, error) {
	c.gate.pass()
	return c.Conn.Write(b)
}

func (p *stallProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
