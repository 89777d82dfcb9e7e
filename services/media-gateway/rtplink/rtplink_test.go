package rtplink_test

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pion/rtp"

	"github.com/ringback/ringback/services/media-gateway/rtplink"
)

// TestLink: what one end writes, the other's handler gets on the
// writer's goroutine; nothing is handed before a handler or after Close;
// the link leaves the registry with its last end.
func TestLink(t *testing.T) {
	r := rtplink.NewRegistry()
	key := rtplink.Key("call-1", "agent-1", 40000)
	gw := r.Join(key, rtplink.Caller)
	if err := gw.WriteRTP(&rtp.Packet{Payload: []byte{1}}); err != nil { // no callee yet: dropped
		t.Fatal(err)
	}
	phone := r.Join(key, rtplink.Callee)
	if r.Len() != 1 {
		t.Fatalf("%d links, want 1", r.Len())
	}
	var got []byte
	phone.Handle(func(p *rtp.Packet) { got = append(got, p.Payload...) })
	for i := range 3 {
		if err := gw.WriteRTP(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i)}, Payload: []byte{byte(10 + i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if string(got) != "\x0a\x0b\x0c" {
		t.Errorf("handed %v", got)
	}
	// The other way, with nobody handling it: dropped.
	if err := phone.WriteRTP(&rtp.Packet{Payload: []byte{9}}); err != nil {
		t.Fatal(err)
	}
	_ = phone.Close()
	<-phone.Done()
	if err := gw.WriteRTP(&rtp.Packet{Payload: []byte{99}}); err != nil || len(got) != 3 {
		t.Errorf("after the callee closed: %v, handed %v", err, got)
	}
	if err := phone.WriteRTP(&rtp.Packet{}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("a closed end wrote: %v", err)
	}
	if r.Len() != 1 {
		t.Errorf("%d links with the caller open, want 1", r.Len())
	}
	_ = gw.Close()
	_ = gw.Close()
	if r.Len() != 0 {
		t.Errorf("%d links left", r.Len())
	}
	// A new leg on the same key (a port reused) gets a new link.
	again := r.Join(key, rtplink.Callee)
	if again == phone {
		t.Error("a closed end was joined again")
	}
	_ = again.Close()
}

// TestCloseWaitsForTheHandler: once Close returns, no handler runs, even
// with writers racing it (go test -race).
func TestCloseWaitsForTheHandler(t *testing.T) {
	r := rtplink.NewRegistry()
	a, b := r.Join("k", rtplink.Caller), r.Join("k", rtplink.Callee)
	var closed, lateCalls atomic.Bool
	b.Handle(func(*rtp.Packet) {
		if closed.Load() {
			lateCalls.Store(true)
		}
	})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 2000 {
				_ = a.WriteRTP(&rtp.Packet{Payload: []byte{1}})
			}
		})
	}
	_ = b.Close()
	closed.Store(true)
	wg.Wait()
	if lateCalls.Load() {
		t.Error("a handler ran after Close returned")
	}
	_ = a.Close()
}
