package call

import (
	"testing"
	"time"

	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
)

// TestAgentRingingSaysTheBrowserRings: an agent whose phone is their
// browser is told where to answer.
func TestAgentRingingSaysTheBrowserRings(t *testing.T) {
	started := &mediav1.DialStarted{CallId: "c1", InteractionId: "i1"}
	s := Evolve(State{}, started)
	out, err := Decide(s, Report{Step: AgentRinging, At: time.Unix(1, 0), Browser: true, BrowserURL: "https://c.example/gw-1"})
	if err != nil || len(out) != 1 {
		t.Fatalf("Decide = %v, %v", out, err)
	}
	r, ok := out[0].(*mediav1.AgentRinging)
	if !ok || !r.Browser || r.BrowserUrl != "https://c.example/gw-1" {
		t.Fatalf("AgentRinging = %v", out[0])
	}
	out, _ = Decide(s, Report{Step: AgentRinging, At: time.Unix(1, 0)})
	if r := out[0].(*mediav1.AgentRinging); r.Browser || r.BrowserUrl != "" {
		t.Errorf("a SIP phone's ringing says the browser rings: %v", r)
	}
}
