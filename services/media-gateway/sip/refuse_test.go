package sip_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ringback/ringback/libs/siptest"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

// TestForbiddenNumbersNeverReachTheTrunk: emergency, premium and service
// numbers fail as invalid numbers before any INVITE, to the trunk or to the
// agent's phone, with the dial plan's reason (issue 16).
func TestForbiddenNumbersNeverReachTheTrunk(t *testing.T) {
	t.Parallel()
	agent := siptest.StartUAS(t, siptest.Answer)
	trunk := siptest.StartUAS(t, siptest.Answer)
	g := startGateway(t, trunk.Addr, nil)
	for _, tc := range []struct{ number, reason string }{
		{"+1911", "emergency"}, {"+112", "emergency"}, {"+999", "emergency"},
		{"+19005550123", "premium"}, {"+19115550123", "emergency"}, {"+1411", "service code"},
	} {
		for name, dial := range map[string]func(context.Context, string, string, string, func(sip.Progress)) (*sip.Call, error){
			"agent first": g.Dial, "contact first": g.DialContactFirst,
		} {
			rec := &recorder{}
			call, err := dial(context.Background(), "call-forbidden", agentURI(agent), tc.number, rec.report)
			oe := wantOutcome(t, call, err, sip.OutcomeInvalidNumber, 0)
			if !strings.Contains(oe.Reason, tc.reason) {
				t.Errorf("%s %s: reason %q, want it to say %q", name, tc.number, oe.Reason, tc.reason)
			}
			if strings.Contains(oe.Error(), tc.number[1:]) {
				t.Errorf("%s: error %q shows the number", name, oe)
			}
			rec.wantKinds(t, sip.Failed)
		}
	}
	for _, u := range []*siptest.UAS{trunk, agent} {
		if got, _ := u.Received("INVITE"); len(got) != 0 {
			t.Errorf("%s got %d INVITEs for forbidden numbers", u.Addr, len(got))
		}
	}
}

// TestForbiddenPartyNeverRung: a consult or transfer to a forbidden number
// is refused before the contact is held or anything is sent.
func TestForbiddenPartyNeverRung(t *testing.T) {
	t.Parallel()
	call, _, _, _, party := dialParty(t, "consult-forbidden")
	ctx := context.Background()
	for _, n := range []string{"+1911", "+112", "+999", "+19005550123", "+19115550123"} {
		for name, ring := range map[string]func(context.Context, sip.Party) error{"consult": call.Consult, "transfer": call.Transfer} {
			err := ring(ctx, sip.Party{Number: n})
			var oe *sip.OutcomeError
			if !errors.As(err, &oe) || oe.Outcome != sip.OutcomeInvalidNumber {
				t.Errorf("%s %s = %v, want an invalid number", name, n, err)
			}
		}
	}
	if call.OnHold() {
		t.Error("the contact was put on hold for a refused party")
	}
	if n := party.answered(); n != 0 {
		t.Errorf("a party answered %d calls, want none", n)
	}
}

// TestAgentPhoneRefused: an agent's phone URI carrying headers, or naming a
// forbidden number at the trunk, is never rung.
func TestAgentPhoneRefused(t *testing.T) {
	t.Parallel()
	agent := siptest.StartUAS(t, siptest.Answer)
	trunk := siptest.StartUAS(t, siptest.Answer)
	g := startGateway(t, trunk.Addr, nil)
	for _, uri := range []string{
		"sip:agent1@" + agent.Addr + "?X-Injected=1",
		"sip:+19005550123@" + trunk.Addr,
		"sip:911@" + trunk.Addr,
	} {
		rec := &recorder{}
		call, err := g.Dial(context.Background(), "call-bad-phone", uri, number, rec.report)
		oe := wantOutcome(t, call, err, sip.OutcomeAgentUnavailable, 0)
		if !strings.HasPrefix(oe.Reason, sip.ReasonPhoneRefused) {
			t.Errorf("%s: reason %q, want %q", uri, oe.Reason, sip.ReasonPhoneRefused)
		}
	}
	for _, u := range []*siptest.UAS{trunk, agent} {
		if got, _ := u.Received("INVITE"); len(got) != 0 {
			t.Errorf("%s got %d INVITEs for refused phones", u.Addr, len(got))
		}
	}
	// A named phone at the trunk's address (the demo trunk answers for its
	// agents' phones too) is rung.
	rec := &recorder{}
	call, err := g.Dial(context.Background(), "call-named-at-trunk", "sip:demo-agent-1@"+trunk.Addr, number, rec.report)
	if err != nil {
		t.Fatalf("Dial a named phone at the trunk: %v", err)
	}
	_ = call.Hangup(context.Background())
}
