package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringback/ringback/libs/siptest"
)

// TestCallControlWhileConnected: Hold / Retrieve (re-INVITEs with the
// right direction), DTMF, Mute, and a recording on disk, from the agent's
// HTTP commands through the media gateway to real SIP peers.
func TestCallControlWhileConnected(t *testing.T) {
	siptest.Sipp(t)
	phone := siptest.StartUAS(t, siptest.AnswerHold)
	contact := siptest.StartUAS(t, siptest.AnswerHold)
	data := t.TempDir()
	p := start(t, "ringback", "--data", data, "--sip", freePort(t, "udp"), "--sip-trunk", contact.Addr, "--media.trunk-keepalive", "0")
	a := api{t: t, route: func(string, string) string { return p.URL }}
	a.do("POST", "/v1/agents/c1/session", map[string]string{"phone_uri": "sip:c1@" + phone.Addr})
	a.do("PUT", "/v1/agents/c1/state", map[string]string{"channel": "webcallback", "state": "READY"})
	pushed := a.events("c1")
	seen := 0
	a.do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550177", "subject": "Control"})
	offer := pushed.waitFor(t, &seen, "offer", func(e sseEvent) bool { return e.Name == "offer" })
	var v struct {
		ID        string `json:"id"`
		Status    string `json:"status"`
		Muted     bool   `json:"muted"`
		Recording bool   `json:"recording"`
	}
	_ = json.Unmarshal(offer.Data, &v)
	ix := v.ID
	a.do("POST", "/v1/interactions/"+ix+"/accept", nil)
	if r := a.do("POST", "/v1/interactions/"+ix+"/hold", nil); r.Status != 409 {
		t.Fatalf("hold before the call: %d %s", r.Status, r.Body)
	}
	a.do("POST", "/v1/interactions/"+ix+"/call", nil)
	a.eventually("/v1/interactions/"+ix, &v, "Connected", func() bool { return v.Status == "Connected" })

	step := func(path string, body any, what string, cond func() bool) {
		t.Helper()
		if r := a.do("POST", "/v1/interactions/"+ix+"/"+path, body); r.Status != 200 {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
		a.eventually("/v1/interactions/"+ix, &v, what, cond)
	}
	step("hold", nil, "On Hold", func() bool { return v.Status == "On Hold" })
	contact.WaitFor(t, "a re-INVITE offering sendonly", func(ms []siptest.Message) bool { return reinviteWith(t, contact, "a=sendonly") })
	step("retrieve", nil, "Connected again", func() bool { return v.Status == "Connected" })
	contact.WaitFor(t, "a re-INVITE offering sendrecv", func(ms []siptest.Message) bool { return reinviteWith(t, contact, "a=sendrecv") })
	if r := a.do("POST", "/v1/interactions/"+ix+"/dtmf", map[string]string{"digits": "12x"}); r.Status != 400 || !strings.Contains(string(r.Body), `"field":"digits"`) {
		t.Fatalf("bad digits: %d %s", r.Status, r.Body)
	}
	step("dtmf", map[string]string{"digits": "12#"}, "Connected", func() bool { return v.Status == "Connected" })
	step("mute", nil, "muted", func() bool { return v.Muted })
	step("unmute", nil, "unmuted", func() bool { return !v.Muted })
	step("record", nil, "recording", func() bool { return v.Recording })
	step("stop-recording", nil, "recording stopped", func() bool { return !v.Recording })

	var trail []struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	a.eventually("/v1/interactions/"+ix+"/events", &trail, "the call control in the audit trail", func() bool {
		types := map[string]bool{}
		for _, e := range trail {
			types[e.Type] = true
		}
		return types["CallHeld"] && types["DtmfSent"] && types["MuteChanged"] && types["RecordingStarted"] && types["RecordingStopped"]
	})
	var location string
	for _, e := range trail {
		if e.Type == "RecordingStopped" {
			var rs struct {
				Location string `json:"location"`
			}
			_ = json.Unmarshal(e.Data, &rs)
			location = rs.Location
		}
	}
	if !strings.HasPrefix(location, filepath.Join(data, "recordings")) {
		t.Fatalf("recording at %q, not under the data directory", location)
	}
	if fi, err := os.Stat(location); err != nil || fi.Size() <= 44 {
		t.Fatalf("recording file: %v %v", fi, err)
	}
	a.do("POST", "/v1/interactions/"+ix+"/end-call", nil)
	a.eventually("/v1/interactions/"+ix, &v, "Ready to Call", func() bool { return v.Status == "Ready to Call" })
}

// reinviteWith says whether the UAS got a second INVITE in a dialog whose
// body has attr.
func reinviteWith(t *testing.T, u *siptest.UAS, attr string) bool {
	raw, err := u.RawMessages()
	if err != nil {
		return false
	}
	for _, msg := range strings.Split(raw, "INVITE sip:")[1:] {
		if strings.Contains(msg, "To: ") && strings.Contains(msg, ";tag=") && strings.Contains(msg, attr) {
			return true
		}
	}
	return false
}
