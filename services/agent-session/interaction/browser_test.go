package interaction

import (
	"testing"
	"time"

	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
)

func TestRingBrowser(t *testing.T) {
	at := time.Unix(1700000000, 0)
	placing := State{ID: "i1", Phase: Accepted, CallID: "c1", CallStatus: Establishing}
	for _, tc := range []struct {
		name string
		s    State
		c    RingBrowser
		want int
	}{
		{"the call being placed rings", placing, RingBrowser{CallID: "c1", URL: "u", At: at}, 1},
		{"another attempt's", placing, RingBrowser{CallID: "c0", At: at}, 0},
		{"recorded already", func() State { s := placing; s.BrowserRing = BrowserRing{CallID: "c1"}; return s }(), RingBrowser{CallID: "c1", At: at}, 0},
		{"connected already", func() State { s := placing; s.CallStatus = Connected; return s }(), RingBrowser{CallID: "c1", At: at}, 0},
		{"not accepted", func() State { s := placing; s.Phase = Done; return s }(), RingBrowser{CallID: "c1", At: at}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Decide(tc.s, tc.c)
			if err != nil || len(out) != tc.want {
				t.Fatalf("Decide = %v, %v; want %d events", out, err, tc.want)
			}
			if tc.want == 0 {
				return
			}
			s := Evolve(tc.s, out[0])
			if r, ok := s.Ringing(); !ok || r.CallID != "c1" || r.URL != "u" {
				t.Errorf("Ringing() = %+v, %v", r, ok)
			}
			// The ring stops with the call's status.
			s = Evolve(s, &agentv1.CallStatusChanged{CallId: "c1", Status: Connected})
			if _, ok := s.Ringing(); ok {
				t.Error("still ringing once connected")
			}
		})
	}
}

// The call answered in the browser is there to take back (after a reload)
// while it is up, and only for the agent whose browser it rang.
func TestBrowserCall(t *testing.T) {
	rang := State{ID: "i1", Phase: Accepted, CallID: "c1", CallStatus: Establishing, Agent: "a1",
		BrowserRing: BrowserRing{CallID: "c1", URL: "u"}}
	with := func(f func(*State)) State { s := rang; f(&s); return s }
	for _, tc := range []struct {
		name string
		s    State
		want bool
	}{
		{"ringing: answered nowhere yet", rang, false},
		{"connected", with(func(s *State) { s.CallStatus = Connected }), true},
		{"on hold", with(func(s *State) { s.CallStatus = OnHold }), true},
		{"ended: Ready to Call", with(func(s *State) { s.CallStatus = ReadyToCall }), false},
		{"another attempt's ring", with(func(s *State) { s.CallStatus, s.CallID = Connected, "c2" }), false},
		{"transferred to another agent",
			Evolve(with(func(s *State) { s.CallStatus = Connected }), &agentv1.InteractionTransferred{InteractionId: "i1", CallId: "c1",
				FromAgentId: "a1", ToAgentId: "a2"}), false},
		// Their phone is their browser: the call is up there now (issue 15).
		{"transferred to an agent on their browser",
			Evolve(with(func(s *State) {
				s.CallStatus, s.BrowserRing = Connected, BrowserRing{}
				s.Third = Third{Purpose: PurposeConsult, Agent: "a2", Status: PartyConsulting, Browser: true, Ring: BrowserRing{CallID: "c1", URL: "u"}}
			}), &agentv1.InteractionTransferred{InteractionId: "i1", CallId: "c1", FromAgentId: "a1", ToAgentId: "a2"}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := tc.s.BrowserCall()
			if ok != tc.want || (ok && (r.CallID != "c1" || r.URL != "u")) {
				t.Errorf("BrowserCall() = %+v, %v; want %v", r, ok, tc.want)
			}
		})
	}
}

// BrowserParty: the party agent's browser rings for the call, then carries
// it while they consult or confer; not once transferred (the interaction
// is theirs then) nor for a party on a SIP phone.
func TestBrowserParty(t *testing.T) {
	base := State{ID: "i1", Phase: Accepted, CallID: "c1", CallStatus: OnHold, Agent: "a1",
		Third: Third{Purpose: PurposeConsult, Agent: "a2", Browser: true, Ring: BrowserRing{CallID: "c1", URL: "u"}}}
	for _, tc := range []struct {
		status  agentv1.PartyStatus
		browser bool
		want    bool
	}{
		{PartyNone, true, false}, {PartyRinging, true, true}, {PartyConsulting, true, true}, {PartyConference, true, true},
		{PartyTransferred, true, false}, {PartyRinging, false, false},
	} {
		s := base
		s.Third.Status, s.Third.Browser = tc.status, tc.browser
		agent, ring, ok := s.BrowserParty()
		if ok != tc.want || (ok && (agent != "a2" || ring.CallID != "c1" || ring.URL != "u")) {
			t.Errorf("%v (browser %v): BrowserParty() = %q %+v %v, want %v", tc.status, tc.browser, agent, ring, ok, tc.want)
		}
	}
}
