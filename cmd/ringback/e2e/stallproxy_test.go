package e2e

import (
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/netstall"
)

// stallProxy stands between the services and the shared PostgreSQL store
// and can hold every byte, both ways, for a while: the store as a fault
// shows it to its clients (a stalled disk, a failover, a partition), with
// every connection left open.
type stallProxy struct {
	ln       net.Listener
	upstream string
	gate     netstall.Gate
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
			p.gate.Pass()
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
func (p *stallProxy) stall(d time.Duration) { p.gate.Stall(d) }

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
