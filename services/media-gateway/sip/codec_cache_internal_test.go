package sip

import (
	"net"
	"testing"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
)

// negotiated returns a media session that negotiated the codecs of an SDP
// answer offering payload types pts (rtpmap lines given).
func negotiated(t *testing.T, pts, rtpmap string) *media.MediaSession {
	t.Helper()
	ms, err := media.NewMediaSession(net.IPv4(127, 0, 0, 1), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Close() })
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/AVP " + pts + "\r\n" + rtpmap + "a=sendrecv\r\n"
	if err := ms.RemoteSDP([]byte(sdp), false); err != nil {
		t.Fatalf("RemoteSDP: %v", err)
	}
	return ms
}

// The cached codecs follow the leg's media session: a re-INVITE that
// replaces it (here with other codecs) is seen by the next packet.
func TestEndpointCodecsFollowMediaSession(t *testing.T) {
	alaw := negotiated(t, "8", "a=rtpmap:8 PCMA/8000\r\n")
	ulaw := negotiated(t, "0 101", "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")

	dm := &diago.DialogMedia{}
	dm.InitMediaSession(alaw, nil, nil)
	e := &endpoint{role: "contact", dm: dm}
	for range 2 { // computed, then cached
		c := e.codecs()
		if c.law != lawA || c.hasEvent || c.recvLaw(8) != lawA || c.recvLaw(0) != lawNone {
			t.Fatalf("PCMA session: law %v event %v recv(8) %v recv(0) %v", c.law, c.hasEvent, c.recvLaw(8), c.recvLaw(0))
		}
	}
	if got := e.codecs(); got.send != codecsOf(alaw).send {
		t.Fatalf("cached %+v, want %+v", got.send, codecsOf(alaw).send)
	}

	dm.InitMediaSession(ulaw, nil, nil) // what a re-INVITE does
	c := e.codecs()
	if c.law != lawU || !c.hasEvent || c.event.PayloadType != 101 || c.recvLaw(0) != lawU || c.recvLaw(8) != lawNone {
		t.Fatalf("after the swap: law %v event %v (%d) recv(0) %v recv(8) %v", c.law, c.hasEvent, c.event.PayloadType, c.recvLaw(0), c.recvLaw(8))
	}

	dm.InitMediaSession(nil, nil, nil)
	if c := e.codecs(); c.law != lawNone || c.common != nil {
		t.Fatalf("no session: %+v", c)
	}
}
