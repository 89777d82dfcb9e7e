package webphone

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/stun/v3"
	"golang.org/x/net/ipv4"
)

// mux is the one UDP port of every browser connection, as media servers
// serve WebRTC: a firewall opens one port, and a reader per CPU reads
// every connection's packets in batches (recvmmsg) where a socket per
// connection woke a goroutine per packet. The readers' sockets share the
// port (SO_REUSEPORT, where there is one), the kernel giving each
// browser's packets to one of them always, so one goroutine at a time
// handles a connection's packets, and a reader that is descheduled stalls
// its share of the calls, not all. A check names its connection by the
// ufrag of its USERNAME; any other packet by the address a check came
// from (RFC 8445 7.3: nothing else is heard).
type mux struct {
	conn  *net.UDPConn   // the first socket, for writes
	conns []*net.UDPConn // every reader's

	mu      sync.RWMutex
	byUfrag map[string]*peer
	byAddr  map[netip.AddrPort]*peer
}

// batch is how many datagrams one read takes at most.
const batch = 32

// listenMux binds the browsers' port, readers sockets on it: port, or
// the first free one in portMin-portMax, or any.
func listenMux(port, portMin, portMax uint16, readers int) (*mux, error) {
	var tries []uint16
	switch {
	case port != 0:
		tries = []uint16{port}
	case portMin != 0 || portMax != 0:
		lo, hi := max(portMin, 1024), portMax
		if hi == 0 {
			hi = 65535
		}
		for p := int(lo); p <= int(hi); p++ {
			tries = append(tries, uint16(p))
		}
		rand.Shuffle(len(tries), func(i, j int) { tries[i], tries[j] = tries[j], tries[i] })
	default:
		tries = []uint16{0}
	}
	var err error
	for _, p := range tries {
		var conns []*net.UDPConn
		if conns, err = listenShared(int(p), readers); err == nil {
			m := &mux{conn: conns[0], conns: conns, byUfrag: map[string]*peer{}, byAddr: map[netip.AddrPort]*peer{}}
			for _, c := range conns {
				// Room for a burst: the connections' packets wait here
				// while the reader handles a batch.
				_ = c.SetReadBuffer(4 << 20)
			}
			return m, nil
		}
	}
	return nil, fmt.Errorf("webphone: bind the browsers' UDP port: %w", err)
}

// listenShared binds up to n sockets to one UDP port (0: any), all
// sharing it where the system can.
func listenShared(port, n int) ([]*net.UDPConn, error) {
	if port == 0 && n > 1 && reusePortWorks {
		// Any port, then, but one nobody holds: the kernel may give a
		// sharing socket a port that another process's sharing sockets
		// hold (theirs do not conflict with it), which would split that
		// process's browsers between the two. A plain socket conflicts
		// with every holder, so the port it gets is free; it is released
		// for ours at once (and the next process's plain socket cannot be
		// given ours).
		free, err := net.ListenUDP("udp4", &net.UDPAddr{})
		if err != nil {
			return nil, err
		}
		port = free.LocalAddr().(*net.UDPAddr).Port
		_ = free.Close()
	}
	lc := net.ListenConfig{Control: reusePort}
	var conns []*net.UDPConn
	for i := range max(n, 1) {
		pc, err := lc.ListenPacket(context.Background(), "udp4", net.JoinHostPort("", strconv.Itoa(port)))
		if err != nil {
			if i > 0 {
				break // sharing refused: the sockets bound so far read it
			}
			return nil, err
		}
		conns = append(conns, pc.(*net.UDPConn))
		port = pc.LocalAddr().(*net.UDPAddr).Port // the first's, when any
		if !reusePortWorks {
			break
		}
	}
	return conns, nil
}

func (m *mux) port() int { return m.conn.LocalAddr().(*net.UDPAddr).Port }

// add registers a connection under a ufrag no other holds, which named
// gives the connection before the reader can see it.
func (m *mux) add(pr *peer, named func(ufrag string)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		u := iceString(8)
		if m.byUfrag[u] == nil {
			named(u)
			m.byUfrag[u] = pr
			return
		}
	}
}

// learn hears from addr as pr's from now on (a check passed from it).
func (m *mux) learn(addr netip.AddrPort, pr *peer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if pr.closed() {
		return // a check handled while its connection closed
	}
	m.byAddr[addr] = pr
}

// remove forgets pr.
func (m *mux) remove(pr *peer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byUfrag[pr.local.ufrag] == pr {
		delete(m.byUfrag, pr.local.ufrag)
	}
	for a, p := range m.byAddr {
		if p == pr {
			delete(m.byAddr, a)
		}
	}
}

// size is how many connections the mux holds (tests).
func (m *mux) size() (ufrags, addrs int) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.byUfrag), len(m.byAddr)
}

// run reads the port with a goroutine per socket until it is closed.
func (m *mux) run() {
	var wg sync.WaitGroup
	for _, c := range m.conns {
		wg.Go(func() { m.read(ipv4.NewPacketConn(c)) })
	}
	wg.Wait()
}

// read reads one socket until it is closed, handing each datagram to its
// connection on this goroutine.
func (m *mux) read(pc *ipv4.PacketConn) {
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 1500)}
	}
	var in inbound
	for {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // an ICMP error and the like: the next read may do
		}
		for i := range msgs[:n] {
			a, ok := msgs[i].Addr.(*net.UDPAddr)
			if !ok {
				continue
			}
			from := netip.AddrPortFrom(a.AddrPort().Addr().Unmap(), uint16(a.Port))
			m.dispatch(&in, msgs[i].Buffers[0][:msgs[i].N], from)
		}
	}
}

// inbound is the reader's scratch, reused for every packet.
type inbound struct {
	msg   stun.Message
	user  stun.Username
	hdr   rtp.Header
	pkt   rtp.Packet
	plain []byte
}

func (m *mux) dispatch(in *inbound, b []byte, from netip.AddrPort) {
	switch packetKind(b) {
	case kindSTUN:
		in.msg.Raw = append(in.msg.Raw[:0], b...)
		if in.msg.Decode() != nil || in.msg.Type != stun.BindingRequest || in.user.GetFrom(&in.msg) != nil {
			return
		}
		ours, _, _ := strings.Cut(string(in.user), ":")
		m.mu.RLock()
		pr := m.byUfrag[ours]
		m.mu.RUnlock()
		if pr != nil && pr.checked(&in.msg, in.user, from) {
			m.learn(from, pr)
		}
	case kindDTLS, kindRTP:
		m.mu.RLock()
		pr := m.byAddr[from]
		m.mu.RUnlock()
		if pr != nil {
			pr.receive(in, b)
		}
	}
}

func (m *mux) close() error {
	var errs []error
	for _, c := range m.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
