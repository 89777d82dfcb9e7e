package agentsession

import (
	"strings"

	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// BrowserPhone starts the phone of an agent whose phone is their browser
// (issue 15): they log in with phone_uri "webrtc:", stored as
// webrtc:<agent>, which the media gateway rings at its browsers' phones;
// the desktop answers over WebRTC.
const BrowserPhone = "webrtc:"

// browserPhone says whether uri is the browser as agent id's phone:
// "webrtc:" or "webrtc:<id>"; another agent's browser is refused.
func browserPhone(id, uri string) (bool, error) {
	rest, ok := strings.CutPrefix(uri, BrowserPhone)
	if !ok {
		return false, nil
	}
	if rest != "" && rest != id {
		return false, httpx.BadField("phone_uri", "webrtc: is this browser; it takes no other agent's id")
	}
	return true, nil
}

// browserRingView is the call ringing on the agent's browser: the desktop
// posts its offer to url + /v1/agents/{agent}/phone/calls/{call_id}.
type browserRingView struct {
	CallID string `json:"call_id"`
	URL    string `json:"url"`
}

// presentCall is the call up on the agent's browser, for a desktop
// reloaded mid-call to take back.
func presentCall(st interaction.State) *browserRingView {
	r, ok := st.BrowserCall()
	if !ok {
		return nil
	}
	return &browserRingView{CallID: r.CallID, URL: r.URL}
}

func presentRing(st interaction.State) *browserRingView {
	r, ok := st.Ringing()
	if !ok {
		return nil
	}
	return &browserRingView{CallID: r.CallID, URL: r.URL}
}
