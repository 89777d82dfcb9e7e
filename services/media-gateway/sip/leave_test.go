package sip_test

import (
	"context"
	"testing"
	"time"

	"github.com/ringback/ringback/services/media-gateway/sip"
)

// conference brings a call to a conference of agent, contact and party.
func conference(t *testing.T, id string, mayLeave bool) (*sip.Call, *recorder, *goUA, *goUA, *goUA) {
	t.Helper()
	call, rec, agent, contact, party := dialParty(t, id)
	call.SetAgentMayLeave(mayLeave)
	ctx := context.Background()
	if err := call.Consult(ctx, sip.Party{AgentURI: "sip:agent2@" + party.Addr}); err != nil {
		t.Fatalf("Consult: %v", err)
	}
	if err := call.Conference(ctx); err != nil {
		t.Fatalf("Conference: %v", err)
	}
	grows(t, "agent+party at the contact", func() int { return contact.count(mixed(agentMark, partyMark)) }, 10)
	return call, rec, agent, contact, party
}

// hangUp is the UA's phone hanging up the call it answered last.
func (u *goUA) hangUp(t *testing.T) {
	t.Helper()
	u.mu.Lock()
	d := u.last
	u.mu.Unlock()
	if d == nil {
		t.Fatal("no call to hang up")
	}
	if err := d.Hangup(context.Background()); err != nil {
		t.Fatalf("hang up: %v", err)
	}
}

// TestAgentLeavesTheConference (issue 15): where the service allows it, the
// agent hanging up in a conference leaves it; the contact and the party talk
// on, as after a transfer, until one of them hangs up.
func TestAgentLeavesTheConference(t *testing.T) {
	t.Parallel()
	call, rec, agent, contact, party := conference(t, "agent-leaves", true)
	agent.hangUp(t)
	waitUntil(t, "Transferred after the agent left", func() bool { return rec.last().Kind == sip.Transferred })
	grows(t, "party's audio alone at the contact", func() int { return contact.count(partyMark) }, 10)
	grows(t, "contact's audio alone at the party", func() int { return party.count(contactMark) }, 10)
	select {
	case <-call.Ended():
		t.Fatal("the call ended with the agent's leg")
	default:
	}
	if party.ended() != 0 || contact.ended() != 0 {
		t.Fatalf("hung up on: party %d, contact %d", party.ended(), contact.ended())
	}
	if err := call.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.wantKinds(t, sip.AgentRinging, sip.AgentAnswered, sip.ContactRinging, sip.Connected,
		sip.PartyRinging, sip.PartyAlerting, sip.PartyAnswered, sip.PartyConnected, sip.Conferenced, sip.Transferred, sip.PartyLeft, sip.Ended)
}

// TestAgentHangingUpEndsTheConference: by default the agent hanging up ends
// the call for everyone, as it always did.
func TestAgentHangingUpEndsTheConference(t *testing.T) {
	t.Parallel()
	call, rec, agent, contact, party := conference(t, "agent-ends", false)
	agent.hangUp(t)
	select {
	case <-call.Ended():
	case <-time.After(waitLong):
		t.Fatal("the call did not end with the agent's hang-up")
	}
	waitUntil(t, "contact and party hung up on", func() bool { return contact.ended() == 1 && party.ended() == 1 })
	if p := rec.last(); p.Kind != sip.Ended || p.Reason != sip.ReasonAgentHungUp {
		t.Fatalf("last report %+v, want Ended: %s", p, sip.ReasonAgentHungUp)
	}
}
