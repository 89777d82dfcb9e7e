//go:build linux

package sip_test

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The bench UA's batched socket I/O (recvmmsg, sendmmsg), without a heap
// allocation per packet: what the load generator allocates is collected by
// the garbage collector it shares with the gateway, whose cycles show in
// the gateway's jitter.

// mmsghdr is struct mmsghdr (sys/socket.h).
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

// mmsgConn reads and writes batches of datagrams on a UDP socket. A
// reader and a writer may use it concurrently; each side is for one
// goroutine.
type mmsgConn struct {
	rc syscall.RawConn

	// read side
	rhdrs  []mmsghdr
	riovs  []syscall.Iovec
	rbufs  [][]byte
	roobs  [][]byte
	rfrom  []syscall.RawSockaddrInet4 // where each datagram came from
	rn     int
	rerr   syscall.Errno
	readFn func(uintptr) bool // doRead, bound once: no closure per read

	// write side
	whdrs   []mmsghdr
	wiovs   []syscall.Iovec
	wn      int
	wsent   int
	werr    syscall.Errno
	writeFn func(uintptr) bool
}

// newMmsgConn prepares batches of up to batch datagrams of up to size
// bytes, with room for their control messages (timestamps).
func newMmsgConn(c *net.UDPConn, batch, size int) (*mmsgConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	m := &mmsgConn{rc: rc, rhdrs: make([]mmsghdr, batch), riovs: make([]syscall.Iovec, batch),
		rbufs: make([][]byte, batch), roobs: make([][]byte, batch), rfrom: make([]syscall.RawSockaddrInet4, batch),
		whdrs: make([]mmsghdr, 0, batch), wiovs: make([]syscall.Iovec, 0, batch)}
	for i := range m.rhdrs {
		m.rbufs[i] = make([]byte, size)
		m.roobs[i] = make([]byte, 128) // a timestamp and a destination
		m.riovs[i].Base = &m.rbufs[i][0]
		m.riovs[i].SetLen(size)
		m.rhdrs[i].hdr.Iov = &m.riovs[i]
		m.rhdrs[i].hdr.Iovlen = 1
		m.rhdrs[i].hdr.Control = &m.roobs[i][0]
		m.rhdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&m.rfrom[i]))
	}
	m.readFn, m.writeFn = m.doRead, m.doWrite
	return m, nil
}

// enableTimestamps asks the kernel to time each datagram's arrival.
func (m *mmsgConn) enableTimestamps() bool {
	ok := false
	_ = m.rc.Control(func(fd uintptr) {
		ok = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1) == nil
	})
	return ok
}

func (m *mmsgConn) doRead(fd uintptr) bool {
	for i := range m.rhdrs {
		m.rhdrs[i].hdr.SetControllen(len(m.roobs[i]))
		m.rhdrs[i].hdr.Namelen = syscall.SizeofSockaddrInet4
		m.rhdrs[i].hdr.Flags = 0
	}
	n, _, e := syscall.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&m.rhdrs[0])), uintptr(len(m.rhdrs)),
		syscall.MSG_DONTWAIT, 0, 0)
	if e == syscall.EAGAIN || e == syscall.EINTR {
		return false // wait until readable
	}
	m.rn, m.rerr = int(n), e
	return true
}

// read waits for datagrams and returns how many it read; datagram i is
// packet(i), its arrival arrival(i).
func (m *mmsgConn) read() (int, error) {
	if err := m.rc.Read(m.readFn); err != nil {
		return 0, err
	}
	if m.rerr != 0 {
		return 0, m.rerr
	}
	return m.rn, nil
}

func (m *mmsgConn) packet(i int) []byte { return m.rbufs[i][:m.rhdrs[i].n] }

// from is where datagram i came from.
func (m *mmsgConn) from(i int) netip.AddrPort {
	sa := &m.rfrom[i]
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
}

// arrival is the kernel's timestamp of datagram i (SO_TIMESTAMPNS).
func (m *mmsgConn) arrival(i int) (time.Time, bool) {
	data, ok := m.control(i, syscall.SOL_SOCKET, syscall.SCM_TIMESTAMPNS, int(unsafe.Sizeof(syscall.Timespec{})))
	if !ok {
		return time.Time{}, false
	}
	return time.Unix((*syscall.Timespec)(unsafe.Pointer(&data[0])).Unix()), true
}

// control is the data of datagram i's control message of level and typ,
// at least size bytes, without allocating (syscall.ParseSocketControlMessage
// does, per packet).
func (m *mmsgConn) control(i, level, typ, size int) ([]byte, bool) {
	oob := m.roobs[i][:m.rhdrs[i].hdr.Controllen]
	for len(oob) >= syscall.CmsgLen(0) {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		if int(h.Len) < syscall.CmsgLen(0) || int(h.Len) > len(oob) {
			break
		}
		data := oob[syscall.CmsgLen(0):h.Len]
		if int(h.Level) == level && int(h.Type) == typ && len(data) >= size {
			return data, true
		}
		oob = oob[min(len(oob), syscall.CmsgSpace(int(h.Len)-syscall.CmsgLen(0))):]
	}
	return nil, false
}

// sockaddr is a destination as the kernel takes it.
type sockaddr = syscall.RawSockaddrInet4

// queue adds a datagram to the next write; to (from sockaddr4) and p must
// stay unchanged until write returns.
func (m *mmsgConn) queue(to *sockaddr, p []byte) { m.queueFrom(to, p, nil) }

// queueFrom is queue with the datagram's source address set by from, a
// sourceAddr's control message (nil: the kernel's choice).
func (m *mmsgConn) queueFrom(to *sockaddr, p []byte, from []byte) {
	m.wiovs = append(m.wiovs, syscall.Iovec{Base: &p[0]})
	m.wiovs[len(m.wiovs)-1].SetLen(len(p))
	h := mmsghdr{hdr: syscall.Msghdr{Name: (*byte)(unsafe.Pointer(to)), Namelen: syscall.SizeofSockaddrInet4}}
	if len(from) > 0 {
		h.hdr.Control = &from[0]
		h.hdr.SetControllen(len(from))
	}
	m.whdrs = append(m.whdrs, h)
}

// sourceAddr is the control message that sends a datagram from ip (IPv4
// IP_PKTINFO, ipi_spec_dst): one socket bound to every address speaks as
// many loopback hosts.
func sourceAddr(ip [4]byte) []byte {
	b := make([]byte, syscall.CmsgSpace(syscall.SizeofInet4Pktinfo))
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = syscall.IPPROTO_IP, syscall.IP_PKTINFO
	h.SetLen(syscall.CmsgLen(syscall.SizeofInet4Pktinfo))
	info := (*syscall.Inet4Pktinfo)(unsafe.Pointer(&b[syscall.CmsgLen(0)]))
	info.Spec_dst = ip
	return b
}

// enableDestinations asks the kernel for each datagram's destination
// address (IP_PKTINFO), which destination(i) reads.
func (m *mmsgConn) enableDestinations() bool {
	ok := false
	_ = m.rc.Control(func(fd uintptr) {
		ok = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_PKTINFO, 1) == nil
	})
	return ok
}

// destination is the address datagram i was sent to.
func (m *mmsgConn) destination(i int) ([4]byte, bool) {
	data, ok := m.control(i, syscall.IPPROTO_IP, syscall.IP_PKTINFO, syscall.SizeofInet4Pktinfo)
	if !ok {
		return [4]byte{}, false
	}
	return (*syscall.Inet4Pktinfo)(unsafe.Pointer(&data[0])).Addr, true
}

func (m *mmsgConn) doWrite(fd uintptr) bool {
	rest := m.whdrs[m.wsent:]
	n, _, e := syscall.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&rest[0])), uintptr(len(rest)),
		syscall.MSG_DONTWAIT, 0, 0)
	if e == syscall.EAGAIN {
		return false // wait until writable
	}
	m.wn, m.werr = int(n), e
	return true
}

// write sends the queued datagrams and returns how many went out.
func (m *mmsgConn) write() (int, error) {
	defer func() { m.whdrs, m.wiovs, m.wsent = m.whdrs[:0], m.wiovs[:0], 0 }()
	// The iovecs are in place only now: append may have moved them.
	for i := range m.whdrs {
		m.whdrs[i].hdr.Iov = &m.wiovs[i]
		m.whdrs[i].hdr.Iovlen = 1
	}
	for m.wsent < len(m.whdrs) {
		if err := m.rc.Write(m.writeFn); err != nil {
			return m.wsent, err
		}
		if m.werr != 0 {
			return m.wsent, m.werr
		}
		m.wsent += m.wn
	}
	return m.wsent, nil
}

// sockaddr4 is addr as the kernel takes it.
func sockaddr4(addr *net.UDPAddr) (*sockaddr, error) {
	ip := addr.IP.To4()
	if ip == nil {
		return nil, errors.New("not an IPv4 address: " + addr.String())
	}
	sa := &syscall.RawSockaddrInet4{Family: syscall.AF_INET}
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(addr.Port>>8), byte(addr.Port)
	copy(sa.Addr[:], ip)
	return sa, nil
}
