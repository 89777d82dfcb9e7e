package sip_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago/media"
)

// sendSlot is the UAs' sending schedule: a call sends at the start of
// one of the 20 ms / sendSlot slots of a frame, the slot it started in, and
// the frames due in a slot go out together. BRIDGE_UA_SLOT (a duration)
// sets it.
var sendSlot = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("BRIDGE_UA_SLOT")); err == nil && d > 0 && frameDur%d == 0 {
		return d
	}
	return 250 * time.Microsecond
}()

// slotsPerFrame is the number of sending slots in a 20 ms frame.
var slotsPerFrame = int(frameDur / sendSlot)

// uaMedia is the RTP of all of a UA's calls, on one socket (see benchUA).
type uaMedia struct {
	meter      *rtpMeter
	rtp, rtcp  *net.UDPConn
	io         *mmsgConn
	port       int
	kernelTime bool // SO_TIMESTAMPNS is on: the kernel times arrivals
	// seq, when set, times the frames whose payload carries no send time
	// (the browsers' calls: their audio was transcoded) by sequence number
	// and arrival (bench_webphone_test.go).
	seq atomic.Pointer[seqMeter]

	mu    sync.Mutex
	slots [][]*txStream // by the slot of the frame they send in

	quit chan struct{}
	wg   sync.WaitGroup
}

// txStream is what a call sends.
type txStream struct {
	to     *sockaddr
	ssrc   uint32
	seq    uint16
	ts     uint32
	marker bool
	slot   int
	pkt    [12 + 160]byte // RTP header and a 20 ms PCMU frame
}

func startUAMedia(m *rtpMeter) (*uaMedia, error) {
	var rtp, rtcp *net.UDPConn
	var err error
	// An even port and the next one, for RTCP (RFC 3550 11).
	for range 100 {
		rtp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		port := rtp.LocalAddr().(*net.UDPAddr).Port
		if port%2 == 0 {
			if rtcp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + 1}); err == nil {
				break
			}
		}
		rtp.Close()
		rtp = nil
	}
	if rtp == nil {
		return nil, fmt.Errorf("no RTP/RTCP port pair: %w", err)
	}
	io, err := newMmsgConn(rtp, 64, media.RTPBufSize)
	if err != nil {
		rtp.Close()
		rtcp.Close()
		return nil, err
	}
	md := &uaMedia{meter: m, rtp: rtp, rtcp: rtcp, io: io,
		port: rtp.LocalAddr().(*net.UDPAddr).Port, quit: make(chan struct{}), slots: make([][]*txStream, slotsPerFrame)}
	// One socket takes what each call's own socket took: room for ~1 s
	// of every call's packets, so that a late receiver does not drop.
	_ = rtp.SetReadBuffer(4 << 20)
	md.kernelTime = io.enableTimestamps()
	md.wg.Add(3)
	go md.send()
	go md.receive()
	go md.drainRTCP()
	return md, nil
}

func (md *uaMedia) close() {
	close(md.quit)
	md.rtp.Close()
	md.rtcp.Close()
	md.wg.Wait()
}

// sdp is the UA's offer or answer: PCMU on its shared socket.
func (md *uaMedia) sdp() []byte {
	return fmt.Appendf(nil, "v=0\r\no=benchua %d 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n", rand.Uint32(), md.port)
}

// stream sends a call's frames to dst until ctx (the dialog) is done; the
// frames it receives are the receiver's.
func (md *uaMedia) stream(ctx context.Context, dst *net.UDPAddr) {
	to, err := sockaddr4(dst)
	if err != nil {
		return
	}
	s := &txStream{to: to, ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), ts: rand.Uint32(), marker: true,
		slot: int(time.Now().UnixNano() / int64(sendSlot) % int64(slotsPerFrame))}
	s.pkt[0] = 0x80 // version 2
	s.pkt[1] = 0    // PCMU
	binary.BigEndian.PutUint32(s.pkt[8:], s.ssrc)
	for i := 12 + 8; i < len(s.pkt); i++ {
		s.pkt[i] = 0xFF // PCMU silence after the timestamp
	}
	md.mu.Lock()
	md.slots[s.slot] = append(md.slots[s.slot], s)
	md.mu.Unlock()
	<-ctx.Done()
	md.mu.Lock()
	md.slots[s.slot] = unordered(md.slots[s.slot], s)
	md.mu.Unlock()
}

// unordered removes x from l, whose order does not matter, without moving
// the rest.
func unordered[T comparable](l []T, x T) []T {
	for i := range l {
		if l[i] == x {
			l[i] = l[len(l)-1]
			return l[:len(l)-1]
		}
	}
	return l
}

// send wakes every slot and sends the frames due in every slot since the
// last wake-up: one that wakes late sends late. One that wakes a whole
// frame late or more skips the older frames (and does not count them as
// sent), as diago's ticker did: a call sends at most one frame per batch,
// from its one packet buffer.
func (md *uaMedia) send() {
	defer md.wg.Done()
	tick := time.NewTicker(sendSlot)
	defer tick.Stop()
	next := time.Now().UnixNano() / int64(sendSlot) // the next slot to send
	for {
		select {
		case <-md.quit:
			return
		case <-tick.C:
		}
		now := time.Now()
		nowNs := now.UnixNano()
		nowSlot := nowNs / int64(sendSlot)
		in := md.meter.in(nowNs)
		next = max(next, nowSlot-int64(slotsPerFrame)+1)
		md.mu.Lock()
		for ; next <= nowSlot; next++ {
			for _, s := range md.slots[next%int64(slotsPerFrame)] {
				s.pkt[1] = 0 // PCMU
				if s.marker {
					s.pkt[1] |= 0x80
					s.marker = false
				}
				binary.BigEndian.PutUint16(s.pkt[2:], s.seq)
				binary.BigEndian.PutUint32(s.pkt[4:], s.ts)
				binary.BigEndian.PutUint64(s.pkt[12:], uint64(nowNs))
				s.seq++
				s.ts += uint32(frameSamples)
				md.io.queue(s.to, s.pkt[:])
			}
		}
		md.mu.Unlock()
		n, _ := md.io.write() // an error: closed, the UA stops
		if in {
			md.meter.sent.Add(int64(n))
		}
	}
}

// rxStream is what the receiver knows of a call it receives: by SSRC.
type rxStream struct {
	prevRead, prevArrival time.Time
}

// receive reads the frames of every call, in batches, until the socket is
// closed.
func (md *uaMedia) receive() {
	defer md.wg.Done()
	calls := make(map[uint32]*rxStream)
	for {
		n, err := md.io.read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(time.Millisecond) // no busy loop on a persistent error
			continue
		}
		readAt := time.Now()
		for i := range n {
			payload, ssrc, ok := rtpPCMU(md.io.packet(i))
			if !ok || len(payload) < 8 {
				continue
			}
			s := calls[ssrc]
			if s == nil {
				s = &rxStream{}
				calls[ssrc] = s
			}
			arrival := readAt
			if md.kernelTime {
				if t, ok := md.io.arrival(i); ok {
					arrival = t
				}
			}
			sentAt := int64(binary.BigEndian.Uint64(payload))
			if sq := md.seq.Load(); sq != nil && !plausibleSendTime(sentAt, readAt) {
				sq.arrived(ssrc, binary.BigEndian.Uint16(md.io.packet(i)[2:]), arrival)
				continue
			}
			md.meter.arrived(sentAt, readAt, arrival, &s.prevRead, &s.prevArrival)
		}
	}
}

// rtpPCMU returns the payload and SSRC of an RTP packet carrying PCMU.
func rtpPCMU(p []byte) (payload []byte, ssrc uint32, ok bool) {
	if len(p) < 12 || p[0]>>6 != 2 || p[1]&0x7f != 0 {
		return nil, 0, false
	}
	h := 12 + 4*int(p[0]&0x0f)
	if p[0]&0x10 != 0 { // header extension
		if len(p) < h+4 {
			return nil, 0, false
		}
		h += 4 + 4*int(binary.BigEndian.Uint16(p[h+2:]))
	}
	end := len(p)
	if p[0]&0x20 != 0 && end > 0 { // padding
		end -= int(p[end-1])
	}
	if h > end {
		return nil, 0, false
	}
	return p[h:end], binary.BigEndian.Uint32(p[8:]), true
}

// drainRTCP reads and drops the gateway's RTCP reports.
func (md *uaMedia) drainRTCP() {
	defer md.wg.Done()
	buf := make([]byte, 1500)
	for {
		if _, _, err := md.rtcp.ReadFrom(buf); errors.Is(err, net.ErrClosed) {
			return
		}
	}
}
