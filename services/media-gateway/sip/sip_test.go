package sip_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/siptest"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

// These tests run the gateway against sipp processes on loopback: sipp plays
// the agent's phone and the trunk. Waits are generous and nothing asserts a
// duration: CI is a loaded two-core machine.

const (
	number = "+14155550123"
	// waitLong bounds every wait for something that should take milliseconds.
	waitLong = 60 * time.Second
)

func TestConnectedThenHangup(t *testing.T) {
	t.Parallel()
	// Both ring before answering, so that both Ringing reports are certain
	// (see recorder.wantKinds).
	agent := siptest.StartUAS(t, siptest.RingThenAnswer)
	trunk := siptest.StartUAS(t, siptest.RingThenAnswer)
	g := startGateway(t, trunk.Addr, nil)
	rec := &recorder{}

	call, err := g.Dial(context.Background(), "call-connected", agentURI(agent), number, rec.report)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	rec.wantExactKinds(t, sip.AgentRinging, sip.AgentAnswered, sip.ContactRinging, sip.Connected)

	agentInvite := agent.WaitReceived(t, "INVITE", 1)[0]
	if got, want := agentInvite.RequestURI(), "sip:agent1@"+agent.Addr; got != want {
		t.Errorf("agent INVITE to %q, want %q", got, want)
	}
	trunkInvite := trunk.WaitReceived(t, "INVITE", 1)[0]
	if got, want := trunkInvite.RequestURI(), "sip:"+number+"@"+trunk.Addr; got != want {
		t.Errorf("trunk INVITE to %q, want %q", got, want)
	}
	raw, err := trunk.RawMessages()
	if err != nil {
		t.Fatal(err)
	}
	// Codec names are case-insensitive (RFC 4566 6); diago writes them lower case.
	for _, want := range []string{"x-ringback-call: call-connected", "<sip:ringback@127.0.0.1>", "pcmu/8000", "pcma/8000"} {
		if !strings.Contains(strings.ToLower(raw), want) {
			t.Errorf("trunk INVITE lacks %q; trunk saw:\n%s", want, raw)
		}
	}

	if err := call.Hangup(context.Background()); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	waitClosed(t, call.Ended(), "call ended")
	agent.WaitReceived(t, "BYE", 1)
	trunk.WaitReceived(t, "BYE", 1)
	rec.wantExactKinds(t, sip.AgentRinging, sip.AgentAnswered, sip.ContactRinging, sip.Connected, sip.Ended)
	if got := rec.last(); got.Reason != sip.ReasonHangupRequested || got.End != sip.EndHangupRequested {
		t.Errorf("Ended reason %q (%v), want %q", got.Reason, got.End, sip.ReasonHangupRequested)
	}
	if err := call.Hangup(context.Background()); err != nil {
		t.Errorf("second Hangup: %v", err)
	}
	rec.wantExactKinds(t, sip.AgentRinging, sip.AgentAnswered, sip.ContactRinging, sip.Connected, sip.Ended)
	// sipp counts a call successful once its scenario ran to the end: the
	// trunk saw INVITE, ACK, BYE in order and nothing unexpected.
	for _, uas := range []*siptest.UAS{agent, trunk} {
		uas.WaitStats(t, "one successful call", func(s map[string]string) bool { return s["SuccessfulCall(C)"] == "1" })
	}
}

func TestContactDoesNotConnect(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		trunk    siptest.Scenario
		outcome  sip.Outcome
		code     int
		progress []sip.ProgressKind
	}{
		{"busy", siptest.Busy, sip.OutcomeBusy, 486, []sip.ProgressKind{sip.AgentRinging, sip.AgentAnswered, sip.Failed}},
		{"decline", siptest.Decline, sip.OutcomeBusy, 603, []sip.ProgressKind{sip.AgentRinging, sip.AgentAnswered, sip.Failed}},
		{"no answer", siptest.NoAnswer, sip.OutcomeNoAnswer, 487, []sip.ProgressKind{sip.AgentRinging, sip.AgentAnswered, sip.ContactRinging, sip.Failed}},
		{"not found", siptest.NotFound, sip.OutcomeInvalidNumber, 404, []sip.ProgressKind{sip.AgentRinging, sip.AgentAnswered, sip.Failed}},
		{"unavailable", siptest.Unavailable, sip.OutcomeFailed, 503, []sip.ProgressKind{sip.AgentRinging, sip.AgentAnswered, sip.Failed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			agent := siptest.StartUAS(t, siptest.Answer)
			trunk := siptest.StartUAS(t, tc.trunk)
			g := startGateway(t, trunk.Addr, func(c *sip.Config) { c.ContactRingTimeout = 300 * time.Millisecond })
			rec := &recorder{}

			call, err := g.Dial(context.Background(), "call-"+strings.ReplaceAll(tc.name, " ", "-"), agentURI(agent), number, rec.report)
			code, outcome := tc.code, tc.outcome
			if tc.trunk == siptest.NoAnswer && !rec.has(sip.ContactRinging) {
				// The 180 did not arrive within the ring timeout (a very
				// loaded machine): a silent trunk, nothing to CANCEL.
				code, outcome = 0, sip.OutcomeFailed
			}
			oe := wantOutcome(t, call, err, outcome, code)
			rec.wantKinds(t, tc.progress...)
			if got := rec.last(); got.Outcome != outcome || got.SIPCode != code {
				t.Errorf("Failed report %+v, want outcome %v code %d", got, outcome, code)
			}
			if strings.Contains(oe.Error(), number) {
				t.Errorf("error %q shows the number", oe)
			}
			// The agent had answered: the gateway hangs up on them.
			agent.WaitReceived(t, "BYE", 1)
			if code == 487 {
				trunk.WaitReceived(t, "CANCEL", 1)
			}
		})
	}
}

func TestTrunkSilent(t *testing.T) {
	t.Parallel()
	agent := siptest.StartUAS(t, siptest.Answer)
	blackHole := udpClient(t) // bound, never answers
	g := startGateway(t, blackHole.LocalAddr().String(), func(c *sip.Config) { c.ContactRingTimeout = 300 * time.Millisecond })
	rec := &recorder{}

	call, err := g.Dial(context.Background(), "call-silent-trunk", agentURI(agent), number, rec.report)
	oe := wantOutcome(t, call, err, sip.OutcomeFailed, 0)
	if oe.Reason != "trunk did not respond" {
		t.Errorf("reason %q", oe.Reason)
	}
	rec.wantKinds(t, sip.AgentRinging, sip.AgentAnswered, sip.Failed)
	agent.WaitReceived(t, "BYE", 1)
}

func TestAgentDoesNotAnswer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		agent siptest.Scenario
		code  int
	}{
		{"busy", siptest.Busy, 486},
		{"no answer", siptest.NoAnswer, 487},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			agent := siptest.StartUAS(t, tc.agent)
			trunk := siptest.StartUAS(t, siptest.Answer)
			g := startGateway(t, trunk.Addr, func(c *sip.Config) { c.AgentRingTimeout = 300 * time.Millisecond })
			rec := &recorder{}

			call, err := g.Dial(context.Background(), "call-agent-"+strings.ReplaceAll(tc.name, " ", "-"), agentURI(agent), number, rec.report)
			code := tc.code
			if tc.agent == siptest.NoAnswer && !rec.has(sip.AgentRinging) {
				code = 0 // 180 later than the ring timeout: see TestContactDoesNotConnect
			}
			_ = wantOutcome(t, call, err, sip.OutcomeAgentUnavailable, code)
			rec.wantKinds(t, sip.AgentRinging, sip.Failed)
			if code == 487 {
				agent.WaitReceived(t, "CANCEL", 1)
			}
			if got, _ := trunk.Received("INVITE"); len(got) != 0 {
				t.Errorf("contact dialled although the agent did not answer: %v", got)
			}
		})
	}
}

func TestAgentHangsUpWhileContactRings(t *testing.T) {
	t.Parallel()
	agent := siptest.StartUAS(t, siptest.AnswerThenHangUp)
	trunk := siptest.StartUAS(t, siptest.NoAnswer) // rings until cancelled
	g := startGateway(t, trunk.Addr, nil)
	rec := &recorder{}

	call, err := g.Dial(context.Background(), "call-agent-gone", agentURI(agent), number, rec.report)
	oe := wantOutcome(t, call, err, sip.OutcomeAgentUnavailable, 487)
	if oe.Reason != "agent hung up before the contact answered" {
		t.Errorf("reason %q", oe.Reason)
	}
	rec.wantKinds(t, sip.AgentRinging, sip.AgentAnswered, sip.ContactRinging, sip.Failed)
	trunk.WaitReceived(t, "CANCEL", 1)
	if got, _ := agent.Received("BYE"); len(got) != 0 {
		t.Errorf("BYE sent to an agent who hung up: %v", got)
	}
}

func TestHangUpByEitherSide(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		reason       string
		end          sip.EndReason
		agent, trunk siptest.Scenario
	}{
		{sip.ReasonContactHungUp, sip.EndContactHungUp, siptest.Answer, siptest.AnswerThenHangUp},
		{sip.ReasonAgentHungUp, sip.EndAgentHungUp, siptest.AnswerThenHangUp, siptest.Answer},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			t.Parallel()
			agent := siptest.StartUAS(t, tc.agent)
			trunk := siptest.StartUAS(t, tc.trunk)
			g := startGateway(t, trunk.Addr, nil)
			rec := &recorder{}

			call, err := g.Dial(context.Background(), "call-bye", agentURI(agent), number, rec.report)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			waitClosed(t, call.Ended(), "call ended by a phone")
			rec.wantKinds(t, sip.AgentRinging, sip.AgentAnswered, sip.ContactRinging, sip.Connected, sip.Ended)
			if got := rec.last(); got.Reason != tc.reason || got.End != tc.end {
				t.Errorf("Ended reason %q (%v), want %q (%v)", got.Reason, got.End, tc.reason, tc.end)
			}
			// The side that hung up got 200 for its BYE; the other got a BYE.
			hungUp, other := trunk, agent
			if tc.reason == sip.ReasonAgentHungUp {
				hungUp, other = agent, trunk
			}
			hungUp.WaitFor(t, "200 for the phone's BYE", func(msgs []siptest.Message) bool {
				return slices.ContainsFunc(msgs, func(m siptest.Message) bool {
					return !m.Sent && m.StatusCode() == 200 && strings.HasSuffix(m.CSeq, "BYE")
				})
			})
			other.WaitReceived(t, "BYE", 1)
			if err := call.Hangup(context.Background()); err != nil {
				t.Errorf("Hangup after the end: %v", err)
			}
		})
	}
}

func TestCancelWhileRinging(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		agent, trunk siptest.Scenario
		cancelOn     sip.ProgressKind
	}{
		{"agent ringing", siptest.NoAnswer, siptest.Answer, sip.AgentRinging},
		{"contact ringing", siptest.Answer, siptest.NoAnswer, sip.ContactRinging},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			agent := siptest.StartUAS(t, tc.agent)
			trunk := siptest.StartUAS(t, tc.trunk)
			g := startGateway(t, trunk.Addr, nil) // ring timeouts far away
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rec := &recorder{onReport: func(p sip.Progress) {
				if p.Kind == tc.cancelOn {
					cancel() // the agent pressed End Call while it rings
				}
			}}

			call, err := g.Dial(ctx, "call-cancel", agentURI(agent), number, rec.report)
			if call != nil || !errors.Is(err, context.Canceled) {
				t.Fatalf("Dial = %v, %v; want context.Canceled", call, err)
			}
			if got := rec.last(); got.Kind != sip.Failed || got.Outcome != sip.OutcomeCancelled {
				t.Errorf("last report %+v, want Failed/cancelled", got)
			}
			if tc.cancelOn == sip.AgentRinging {
				agent.WaitReceived(t, "CANCEL", 1)
			} else {
				trunk.WaitReceived(t, "CANCEL", 1)
				agent.WaitReceived(t, "BYE", 1)
			}
		})
	}
}

func TestInvalidNumberIsNotDialled(t *testing.T) {
	t.Parallel()
	agent := siptest.StartUAS(t, siptest.Answer)
	g := startGateway(t, "127.0.0.1:9", nil) // never reached
	for _, bad := range []string{"4155550123", "+0123456", "+1415555012345678", "+1 415 555 0123", ""} {
		rec := &recorder{}
		call, err := g.Dial(context.Background(), "call-invalid", agentURI(agent), bad, rec.report)
		_ = wantOutcome(t, call, err, sip.OutcomeInvalidNumber, 0)
		rec.wantKinds(t, sip.Failed)
	}
	if got, _ := agent.Received("INVITE"); len(got) != 0 {
		t.Errorf("agent rung for an invalid number: %v", got)
	}
}

func TestBadArguments(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "127.0.0.1:9", nil)
	for _, tc := range []struct{ id, agent string }{
		{"", "sip:agent1@127.0.0.1:5070"},
		{"id\r\nX-Evil: 1", "sip:agent1@127.0.0.1:5070"},
		{"call-1", "tel:+14155550123"},
		{"call-1", "agent1"},
	} {
		rec := &recorder{}
		if _, err := g.Dial(context.Background(), tc.id, tc.agent, number, rec.report); err == nil {
			t.Errorf("Dial(%q, %q) succeeded", tc.id, tc.agent)
		}
		rec.wantKinds(t)
	}
}

func TestGatewayStopHangsUpCalls(t *testing.T) {
	t.Parallel()
	agent := siptest.StartUAS(t, siptest.Answer)
	trunk := siptest.StartUAS(t, siptest.Answer)
	g, stop := startGatewayStoppable(t, trunk.Addr, nil)
	rec := &recorder{}
	call, err := g.Dial(context.Background(), "call-stop", agentURI(agent), number, rec.report)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	stop() // returns once Run has returned
	waitClosed(t, call.Ended(), "call ended by shutdown")
	if got := rec.last(); got.Reason != sip.ReasonGatewayStopped || got.End != sip.EndGatewayStopped {
		t.Errorf("Ended reason %q (%v), want %q", got.Reason, got.End, sip.ReasonGatewayStopped)
	}
	agent.WaitReceived(t, "BYE", 1)
	trunk.WaitReceived(t, "BYE", 1)
	if _, err := g.Dial(context.Background(), "call-late", agentURI(agent), number, nil); !errors.Is(err, sip.ErrStopped) {
		t.Errorf("Dial after Run: %v, want ErrStopped", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := sip.Config{Listen: "127.0.0.1:0", Trunk: "127.0.0.1:5080", CallerID: "ringback"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for name, mod := range map[string]func(*sip.Config){
		"no listen":      func(c *sip.Config) { c.Listen = "" },
		"trunk no port":  func(c *sip.Config) { c.Trunk = "127.0.0.1" },
		"trunk bad port": func(c *sip.Config) { c.Trunk = "127.0.0.1:99999" },
		"caller id":      func(c *sip.Config) { c.CallerID = "ring back" },
		"negative":       func(c *sip.Config) { c.ContactRingTimeout = -time.Second },
	} {
		c := ok
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate passed", name)
		}
		if _, err := sip.New(c, nil); err == nil {
			t.Errorf("%s: New passed", name)
		}
	}
}
