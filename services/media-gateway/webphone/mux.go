package webphone

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/stun/v3"
	"golang.org/x/net/ipv4"
)

// mux is the one UDP port of every browser connection, as media servers
// serve WebRTC: a firewall opens one port, and one goroutine reads every
// connection's packets in batches (recvmmsg) where a socket per
// connection woke a goroutine per packet. A check names its connection by
// the ufrag of its USERNAME; any other packet by the address a check came
// from (RFC 8445 7.3: nothing else is heard).
type mux struct {
	conn *net.UDPConn
	pc   *ipv4.PacketConn

	mu      sync.RWMutex
	byUfrag map[string]*peer
	byAddr  map[netip.AddrPort]*peer
}

// batch is how many datagrams one read takes at most.
const batch = 32

// listenMux binds the browsers' port: port, or the first free one in
// portMin-portMax, or any.
func listenMux(port, portMin, portMax uint16) (*mux, error) {
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
		var conn *net.UDPConn
		if conn, err = net.ListenUDP("udp4", &net.UDPAddr{Port: int(p)}); err == nil {
			// Room for a burst: every connection's packets wait here while
			// the reader handles a batch.
			_ = conn.SetReadBuffer(4 << 20)
			return &mux{conn: conn, pc: ipv4.NewPacketConn(conn),
				byUfrag: map[string]*peer{}, byAddr: map[netip.AddrPort]*peer{}}, nil
		}
	}
	return nil, fmt.Errorf("webphone: bind the browsers' UDP port: %w", err)
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

// run reads the port until it is closed, handing each datagram to its
// connection on this goroutine.
func (m *mux) run() {
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 1500)}
	}
	var in inbound
	for {
		n, err := m.pc.ReadBatch(msgs, 0)
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

func (m *mux) close() error { return m.conn.Close() }
