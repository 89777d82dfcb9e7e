package interaction

import (
	"time"

	"google.golang.org/protobuf/proto"

	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
)

// BrowserRing is the call ringing on the agent's browser, their phone: the
// desktop answers it by posting its WebRTC offer to URL (the ringing
// gateway instance's; empty: the desktop's own origin).
type BrowserRing struct {
	CallID, URL string
}

// RingBrowser records that the interaction's call rings the agent's
// browser (the gateway's AgentRinging for a phone webrtc:).
type RingBrowser struct {
	CallID, URL string
	At          time.Time
}

func (RingBrowser) command() {}

func (s State) decideRing(c RingBrowser) ([]proto.Message, error) {
	if c.CallID != s.CallID || s.Phase != Accepted || s.CallStatus != Establishing || s.BrowserRing.CallID == c.CallID {
		return nil, nil // another attempt's, over, or recorded already
	}
	return []proto.Message{&agentv1.BrowserRinging{InteractionId: s.ID, CallId: c.CallID, Url: c.URL, At: ts(c.At)}}, nil
}

// Ringing is the browser ring of the call being placed, if it rings the
// agent's browser now: it stops with the call's status (connected, or
// back to Ready to Call).
func (s State) Ringing() (BrowserRing, bool) {
	if s.BrowserRing.CallID == "" || s.BrowserRing.CallID != s.CallID || s.CallStatus != Establishing {
		return BrowserRing{}, false
	}
	return s.BrowserRing, true
}

// BrowserCall is the call up on the agent's browser, answered there: after
// a reload the desktop takes it back by posting a new offer to the same
// place (the gateway holds the call for a while when a browser goes).
func (s State) BrowserCall() (BrowserRing, bool) {
	if s.BrowserRing.CallID == "" || s.BrowserRing.CallID != s.CallID || (s.CallStatus != Connected && s.CallStatus != OnHold) {
		return BrowserRing{}, false
	}
	return s.BrowserRing, true
}
