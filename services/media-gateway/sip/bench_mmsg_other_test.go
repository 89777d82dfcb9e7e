//go:build !linux

package sip_test

import (
	"net"
	"net/netip"
	"time"
)

// mmsgConn without recvmmsg/sendmmsg: one datagram per system call, and
// no kernel timestamps (see bench_mmsg_linux_test.go).
type mmsgConn struct {
	c    *net.UDPConn
	buf  []byte
	n    int
	last netip.AddrPort
	q    []queued
}

type queued struct {
	to *sockaddr
	p  []byte
}

type sockaddr = net.UDPAddr

func newMmsgConn(c *net.UDPConn, batch, size int) (*mmsgConn, error) {
	return &mmsgConn{c: c, buf: make([]byte, size)}, nil
}

func (m *mmsgConn) enableTimestamps() bool { return false }

func (m *mmsgConn) read() (int, error) {
	n, from, err := m.c.ReadFromUDPAddrPort(m.buf)
	if err != nil {
		return 0, err
	}
	m.n, m.last = n, from
	return 1, nil
}

func (m *mmsgConn) packet(int) []byte { return m.buf[:m.n] }

func (m *mmsgConn) from(int) netip.AddrPort { return m.last }

func (m *mmsgConn) arrival(int) (time.Time, bool) { return time.Time{}, false }

func (m *mmsgConn) queue(to *sockaddr, p []byte) { m.q = append(m.q, queued{to, p}) }

// queueFrom cannot choose the source here: it is queue.
func (m *mmsgConn) queueFrom(to *sockaddr, p []byte, _ []byte) { m.queue(to, p) }

func sourceAddr([4]byte) []byte { return nil }

func (m *mmsgConn) enableDestinations() bool { return false }

func (m *mmsgConn) destination(int) ([4]byte, bool) { return [4]byte{}, false }

func (m *mmsgConn) write() (int, error) {
	defer func() { m.q = m.q[:0] }()
	for i, q := range m.q {
		if _, err := m.c.WriteToUDP(q.p, q.to); err != nil {
			return i, err
		}
	}
	return len(m.q), nil
}

func sockaddr4(addr *net.UDPAddr) (*sockaddr, error) { return addr, nil }
