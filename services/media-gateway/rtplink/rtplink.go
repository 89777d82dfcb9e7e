// Package rtplink carries the RTP of a SIP leg whose two ends are in one
// process: the gateway's leg to the browsers' phones (package webphone),
// signalled over loopback SIP like any phone's, whose audio need not cross
// the kernel, nor wake a goroutine per packet. A packet one end writes is
// handed, on the writer's goroutine, to the handler of the other: a
// browser's packet goes from the socket it arrived on to the contact's in
// one goroutine, as a SIP phone's does through the gateway's bridge (issue
// 15's bench: loopback UDP was 4 of a browser leg's 12 system calls per
// frame pair, and its two extra goroutine hops were half its jitter).
//
// A link is found by a key both ends know from the SIP dialog; whichever
// joins first makes it.
package rtplink

import (
	"net"
	"strconv"
	"sync"

	"github.com/pion/rtp"
)

// Registry is the links of one process, by key.
type Registry struct {
	mu    sync.Mutex
	links map[string]*Link
}

// NewRegistry is an empty registry.
func NewRegistry() *Registry { return &Registry{links: map[string]*Link{}} }

// Key names the link of a leg: the call attempt, the user rung, and the
// RTP port of the calling side (unique among the process's live legs).
func Key(call, user string, port int) string {
	return call + "\x00" + user + "\x00" + strconv.Itoa(port)
}

// Side is which end of a link: the caller's (the gateway) or the callee's.
type Side int

const (
	Caller Side = iota
	Callee
)

// Join returns side's end of the link for key, making the link if the
// other end has not joined yet. Close the end when its leg ends.
func (r *Registry) Join(key string, side Side) *End {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.links[key]
	if l == nil || l.ends[side].joined {
		l = newLink()
		r.links[key] = l
	}
	e := &l.ends[side]
	e.joined = true
	l.open++
	e.release = func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if l.open--; l.open == 0 && r.links[key] == l {
			delete(r.links, key)
		}
	}
	return e
}

// Len is the number of links with an end open (tests: none is left).
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.links)
}

// Link is two ends.
type Link struct {
	ends [2]End
	open int // ends joined and not closed, under the registry's lock
}

func newLink() *Link {
	l := &Link{}
	for i := range l.ends {
		l.ends[i].peer = &l.ends[1-i]
		l.ends[i].done = make(chan struct{})
	}
	return l
}

// End is one side of a link. It is a diago media.RTPWriter, so a diago
// RTPPacketWriter (sequence, timestamps, SSRC) writes through it.
type End struct {
	peer *End
	// mu: handle runs under the read lock, Close takes the write lock, so
	// no handler runs once Close has returned.
	mu      sync.RWMutex
	handle  func(*rtp.Packet)
	closed  bool
	done    chan struct{}
	joined  bool // under the registry's lock
	release func()
	once    sync.Once
}

// Handle makes h receive each packet the other end writes, on the
// writer's goroutine, until Close; h must not keep the packet or its
// payload. Packets written before Handle are dropped, as a socket nobody
// reads drops them.
func (e *End) Handle(h func(*rtp.Packet)) {
	e.mu.Lock()
	e.handle = h
	e.mu.Unlock()
}

// WriteRTP hands p to the other end's handler; without one (not yet, or
// closed), p is dropped. It fails once this end is closed.
func (e *End) WriteRTP(p *rtp.Packet) error {
	select {
	case <-e.done:
		return net.ErrClosed
	default:
	}
	to := e.peer
	to.mu.RLock()
	defer to.mu.RUnlock()
	if to.handle != nil && !to.closed {
		to.handle(p)
	}
	return nil
}

// Done is closed when the end is.
func (e *End) Done() <-chan struct{} { return e.done }

// Close ends this side: its handler runs no more (Close waits for one
// running), its writes are refused, and the link leaves the registry once
// both sides closed.
func (e *End) Close() error {
	e.once.Do(func() {
		e.mu.Lock()
		e.closed, e.handle = true, nil
		e.mu.Unlock()
		close(e.done)
		if e.release != nil {
			e.release()
		}
	})
	return nil
}
