package sip_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/emiago/diago/audio"

	"github.com/ringback/ringback/libs/siptest"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

// Third parties: consultation, conference, transfer. Three Go UAs (agent,
// contact, party), each sending frames of its own mark, show who hears
// whom; in a conference each hears the sum of the two others.

const partyMark byte = 0x33

// mixed is the PCMU byte a listener receives when the gateway mixes two
// frames of marks a and b.
func mixed(a, b byte) byte {
	v := int32(pcmuSample(a)) + int32(pcmuSample(b))
	v = max(-32768, min(32767, v))
	pcm := []byte{byte(v), byte(uint16(int16(v)) >> 8)}
	out := make([]byte, 1)
	if _, err := audio.EncodeUlawTo(out, pcm); err != nil {
		panic(err)
	}
	return out[0]
}

// dialParty places a call between Go UAs, with rec as its report, and a
// third Go UA to consult.
func dialParty(t *testing.T, id string) (call *sip.Call, rec *recorder, agent, contact, party *goUA) {
	t.Helper()
	agent, contact, party = startGoUA(t, agentMark), startGoUA(t, contactMark), startGoUA(t, partyMark)
	g := startGateway(t, contact.Addr, nil)
	rec = &recorder{}
	call, err := g.Dial(context.Background(), id, "sip:agent1@"+agent.Addr, number, rec.report)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = call.Hangup(context.Background()) })
	grows(t, "agent's audio at the contact", func() int { return contact.count(agentMark) }, 10)
	return call, rec, agent, contact, party
}

func TestConsultConferenceDrop(t *testing.T) {
	t.Parallel()
	call, rec, agent, contact, party := dialParty(t, "consult-conference")
	ctx := context.Background()

	if err := call.Consult(ctx, sip.Party{AgentURI: "sip:agent2@" + party.Addr}); err != nil {
		t.Fatalf("Consult: %v", err)
	}
	if !call.OnHold() {
		t.Error("the contact is not on hold while the agent consults")
	}
	grows(t, "agent's audio at the party", func() int { return party.count(agentMark) }, 10)
	grows(t, "party's audio at the agent", func() int { return agent.count(partyMark) }, 10)
	grows(t, "hold tone at the contact", contact.variedCount, 5)
	stays(t, "agent's audio at the contact during the consultation", func() int { return contact.count(agentMark) }, 2)
	stays(t, "party's audio at the contact", func() int { return contact.count(partyMark) }, 0)

	for _, op := range []struct {
		name string
		err  error
	}{
		{"Hold", call.Hold(ctx)},
		{"Retrieve", call.Retrieve(ctx)},
		{"Consult", call.Consult(ctx, sip.Party{AgentURI: "sip:agent3@" + party.Addr})},
		{"Transfer", call.Transfer(ctx, sip.Party{Number: "+14155550199"})},
	} {
		if !errors.Is(op.err, sip.ErrPartyOnCall) {
			t.Errorf("%s while consulting = %v, want ErrPartyOnCall", op.name, op.err)
		}
	}

	if err := call.Conference(ctx); err != nil {
		t.Fatalf("Conference: %v", err)
	}
	if call.OnHold() {
		t.Error("the contact is still on hold in the conference")
	}
	grows(t, "agent+party at the contact", func() int { return contact.count(mixed(agentMark, partyMark)) }, 10)
	grows(t, "contact+party at the agent", func() int { return agent.count(mixed(contactMark, partyMark)) }, 10)
	grows(t, "agent+contact at the party", func() int { return party.count(mixed(agentMark, contactMark)) }, 10)

	if err := call.Mute(true); err != nil {
		t.Fatal(err)
	}
	grows(t, "party alone at the contact, the agent muted", func() int { return contact.count(partyMark) }, 10)
	if err := call.Mute(false); err != nil {
		t.Fatal(err)
	}

	if err := call.DropParty(ctx); err != nil {
		t.Fatalf("DropParty: %v", err)
	}
	waitUntil(t, "the party hung up on", func() bool { return party.ended() == 1 })
	grows(t, "agent's audio at the contact again", func() int { return contact.count(agentMark) }, 10)
	grows(t, "contact's audio at the agent again", func() int { return agent.count(contactMark) }, 10)
	if err := call.DropParty(ctx); !errors.Is(err, sip.ErrNoParty) {
		t.Errorf("DropParty again = %v, want ErrNoParty", err)
	}

	if err := call.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	rec.wantKinds(t, sip.AgentRinging, sip.AgentAnswered, sip.ContactRinging, sip.Connected,
		sip.PartyRinging, sip.PartyAlerting, sip.PartyAnswered, sip.PartyConnected, sip.Conferenced, sip.PartyLeft, sip.Ended)
	if p := rec.got[len(rec.got)-2]; p.Reason != sip.ReasonPartyDropped || p.End != sip.EndPartyDropped || p.Purpose != sip.PurposeConsult {
		t.Errorf("PartyLeft %+v, want reason %q, purpose consult", p, sip.ReasonPartyDropped)
	}
}

func TestConsultThenTransfer(t *testing.T) {
	t.Parallel()
	call, rec, agent, contact, party := dialParty(t, "consult-transfer")
	ctx := context.Background()
	if err := call.Hold(ctx); err != nil { // a consultation from hold takes the agent's phone back
		t.Fatal(err)
	}
	if err := call.Consult(ctx, sip.Party{AgentURI: "sip:agent2@" + party.Addr}); err != nil {
		t.Fatalf("Consult: %v", err)
	}
	grows(t, "agent's audio at the party", func() int { return party.count(agentMark) }, 10)
	if err := call.Mute(true); err != nil { // the first agent's mute is theirs: the party starts unmuted
		t.Fatal(err)
	}
	if err := call.CompleteTransfer(ctx); err != nil {
		t.Fatalf("CompleteTransfer: %v", err)
	}
	waitUntil(t, "the agent hung up on", func() bool { return agent.ended() == 1 })
	grows(t, "party's audio at the contact", func() int { return contact.count(partyMark) }, 10)
	grows(t, "contact's audio at the party", func() int { return party.count(contactMark) }, 10)
	select {
	case <-call.Ended():
		t.Fatal("the call ended with the agent's leg")
	default:
	}
	// The call's one third-party place is the party's own leg now.
	for name, err := range map[string]error{"Consult": call.Consult(ctx, sip.Party{Number: "+14155550199"}),
		"Conference": call.Conference(ctx)} {
		if !errors.Is(err, sip.ErrTransferred) {
			t.Errorf("%s after the transfer = %v, want ErrTransferred", name, err)
		}
	}
	handedOverControls(t, call, contact, party)
	if err := call.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	rec.wantKinds(t, sip.AgentRinging, sip.AgentAnswered, sip.ContactRinging, sip.Connected,
		sip.PartyRinging, sip.PartyAlerting, sip.PartyAnswered, sip.PartyConnected, sip.Transferred, sip.PartyLeft, sip.Ended)
}

// handedOverControls: the agent a call was transferred to holds, retrieves
// and mutes it as the first agent did (issue 15), on their own leg.
func handedOverControls(t *testing.T, call *sip.Call, contact, party *goUA) {
	t.Helper()
	ctx := context.Background()
	if err := call.Hold(ctx); err != nil {
		t.Fatalf("Hold after the transfer: %v", err)
	}
	if !call.OnHold() {
		t.Error("not on hold after Hold")
	}
	grows(t, "hold tone at the contact", contact.variedCount, 5)
	stays(t, "party's audio at the contact on hold", func() int { return contact.count(partyMark) }, 2)
	stays(t, "contact's audio at the party on hold", func() int { return party.count(contactMark) }, 2)
	if err := call.Retrieve(ctx); err != nil {
		t.Fatalf("Retrieve after the transfer: %v", err)
	}
	grows(t, "party's audio at the contact, retrieved", func() int { return contact.count(partyMark) }, 10)
	grows(t, "contact's audio at the party, retrieved", func() int { return party.count(contactMark) }, 10)
	if err := call.Mute(true); err != nil {
		t.Fatal(err)
	}
	stays(t, "party's audio at the contact, muted", func() int { return contact.count(partyMark) }, 2)
	grows(t, "contact's audio at the party, muted", func() int { return party.count(contactMark) }, 10)
	if err := call.Mute(false); err != nil {
		t.Fatal(err)
	}
	grows(t, "party's audio at the contact, unmuted", func() int { return contact.count(partyMark) }, 10)
}

func TestBlindTransfer(t *testing.T) {
	t.Parallel()
	call, rec, agent, contact, party := dialParty(t, "blind-transfer")
	if err := call.Transfer(context.Background(), sip.Party{AgentURI: "sip:agent2@" + party.Addr}); err != nil {
		t.Fatalf("Transfer: %v", err)
	}
	waitUntil(t, "the agent hung up on", func() bool { return agent.ended() == 1 })
	grows(t, "party's audio at the contact", func() int { return contact.count(partyMark) }, 10)
	grows(t, "contact's audio at the party", func() int { return party.count(contactMark) }, 10)
	if call.OnHold() {
		t.Error("the contact is still on hold after the transfer")
	}
	handedOverControls(t, call, contact, party)
	if err := call.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.wantKinds(t, sip.AgentRinging, sip.AgentAnswered, sip.ContactRinging, sip.Connected,
		sip.PartyRinging, sip.PartyAlerting, sip.PartyAnswered, sip.Transferred, sip.PartyLeft, sip.Ended)
	for _, p := range rec.got {
		if (p.Kind == sip.PartyRinging || p.Kind == sip.Transferred) && p.Purpose != sip.PurposeTransfer {
			t.Errorf("%v purpose %v, want transfer", p.Kind, p.Purpose)
		}
		// The party's ringing comes with the early dialog an instance
		// taking over would cancel.
		if p.Kind == sip.PartyAlerting && (len(p.Legs) != 1 || p.Legs[0].Role != "party" || !p.Legs[0].Early || p.Legs[0].Via == "") {
			t.Errorf("party alerting with legs %+v, want the party's early dialog", p.Legs)
		}
	}
}

func TestTransferToBusyPartyStaysWithTheAgent(t *testing.T) {
	t.Parallel()
	call, rec, agent, contact, _ := dialParty(t, "transfer-busy")
	busy := siptest.StartUAS(t, siptest.Busy)
	err := call.Transfer(context.Background(), sip.Party{AgentURI: "sip:agent2@" + busy.Addr})
	var oe *sip.OutcomeError
	if !errors.As(err, &oe) || oe.Outcome != sip.OutcomeBusy || oe.SIPCode != 486 {
		t.Fatalf("Transfer to a busy phone = %v, want busy (486)", err)
	}
	if !call.OnHold() {
		t.Error("after a failed transfer the contact is not on hold")
	}
	if agent.ended() != 0 {
		t.Error("the agent was hung up on although the transfer failed")
	}
	if err := call.Retrieve(context.Background()); err != nil {
		t.Fatalf("Retrieve after the failed transfer: %v", err)
	}
	grows(t, "agent's audio at the contact after retrieve", func() int { return contact.count(agentMark) }, 10)
	last := rec.last()
	if last.Kind != sip.PartyLeft || last.Outcome != sip.OutcomeBusy || last.SIPCode != 486 {
		t.Errorf("last report %+v, want PartyLeft busy 486", last)
	}
}

func TestConsultCancelledWhileRinging(t *testing.T) {
	t.Parallel()
	call, rec, _, _, _ := dialParty(t, "consult-cancel")
	ringing := siptest.StartUAS(t, siptest.NoAnswer)
	errc := make(chan error, 1)
	go func() { errc <- call.Consult(context.Background(), sip.Party{AgentURI: "sip:agent2@" + ringing.Addr}) }()
	ringing.Logs.WaitReceived(t, "INVITE", 1)
	if err := call.DropParty(context.Background()); err != nil {
		t.Fatalf("DropParty while ringing: %v", err)
	}
	var oe *sip.OutcomeError
	if err := <-errc; !errors.As(err, &oe) || oe.Outcome != sip.OutcomeCancelled {
		t.Fatalf("Consult = %v, want cancelled", err)
	}
	ringing.Logs.WaitReceived(t, "CANCEL", 1)
	if !call.OnHold() {
		t.Error("the contact is not on hold after the cancelled consultation")
	}
	if last := rec.last(); last.Kind != sip.PartyLeft || last.Outcome != sip.OutcomeCancelled {
		t.Errorf("last report %+v, want PartyLeft cancelled", last)
	}
}

// A consultation dropped before the party's phone answered anything (its
// 180 is late) returns at once, and the phone is still CANCELled once its
// ringing comes: a CANCEL must wait for a provisional response (RFC 3261
// 9.1), but the phone must not ring on. CI saw this race with no_answer.
func TestConsultCancelledBeforeThePartyRings(t *testing.T) {
	t.Parallel()
	call, rec, _, _, _ := dialParty(t, "consult-cancel-early")
	late := siptest.StartUAS(t, siptest.SlowRing)
	errc := make(chan error, 1)
	go func() { errc <- call.Consult(context.Background(), sip.Party{AgentURI: "sip:agent2@" + late.Addr}) }()
	late.Logs.WaitReceived(t, "INVITE", 1)
	if err := call.DropParty(context.Background()); err != nil {
		t.Fatalf("DropParty before the ringing: %v", err)
	}
	var oe *sip.OutcomeError
	if err := <-errc; !errors.As(err, &oe) || oe.Outcome != sip.OutcomeCancelled {
		t.Fatalf("Consult = %v, want cancelled", err)
	}
	late.Logs.WaitReceived(t, "CANCEL", 1)
	late.Logs.WaitReceived(t, "ACK", 1) // of the 487: the INVITE is done
	if !call.OnHold() {
		t.Error("the contact is not on hold after the cancelled consultation")
	}
	// The late ringing is not news: the party left already.
	if last := rec.last(); last.Kind != sip.PartyLeft || last.Outcome != sip.OutcomeCancelled {
		t.Errorf("last report %+v, want PartyLeft cancelled", last)
	}
	// The consultation is over: another one can ring.
	again := siptest.StartUAS(t, siptest.Answer)
	if err := call.Consult(context.Background(), sip.Party{AgentURI: "sip:agent2@" + again.Addr}); err != nil {
		t.Fatalf("Consult after the cancelled one: %v", err)
	}
}

func TestCallEndsWhilePartyRings(t *testing.T) {
	t.Parallel()
	call, rec, _, _, _ := dialParty(t, "end-while-party-rings")
	ringing := siptest.StartUAS(t, siptest.NoAnswer)
	errc := make(chan error, 1)
	go func() { errc <- call.Consult(context.Background(), sip.Party{AgentURI: "sip:agent2@" + ringing.Addr}) }()
	ringing.Logs.WaitReceived(t, "INVITE", 1)
	if err := call.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, sip.ErrCallEnded) {
		t.Errorf("Consult = %v, want ErrCallEnded", err)
	}
	rec.wantKinds(t, sip.AgentRinging, sip.AgentAnswered, sip.ContactRinging, sip.Connected, sip.PartyRinging, sip.PartyAlerting, sip.PartyLeft, sip.Ended)
}

func TestPartyHangsUpDuringConsultation(t *testing.T) {
	t.Parallel()
	call, rec, agent, _, _ := dialParty(t, "party-hangs-up")
	hangsUp := siptest.StartUAS(t, siptest.AnswerThenHangUp)
	if err := call.Consult(context.Background(), sip.Party{AgentURI: "sip:agent2@" + hangsUp.Addr}); err != nil {
		t.Fatalf("Consult: %v", err)
	}
	waitUntil(t, "PartyLeft after the party's BYE", func() bool { return rec.last().Kind == sip.PartyLeft })
	if p := rec.last(); p.Reason != sip.ReasonPartyHungUp || p.End != sip.EndPartyHungUp {
		t.Errorf("PartyLeft reason %q, want %q", p.Reason, sip.ReasonPartyHungUp)
	}
	select {
	case <-call.Ended():
		t.Fatal("the call ended with the party")
	default:
	}
	if err := call.Retrieve(context.Background()); err != nil {
		t.Fatalf("Retrieve: %v", err)
	}
	_ = agent
}

func TestTransferToNumberThroughTheTrunk(t *testing.T) {
	t.Parallel()
	call, rec, agent, contact, _ := dialParty(t, "transfer-number")
	if err := call.Transfer(context.Background(), sip.Party{Number: "+442071234567"}); err != nil {
		t.Fatalf("Transfer: %v", err)
	}
	// The trunk (the contact's Go UA here) took a second call: the number.
	waitUntil(t, "the trunk answered the transfer", func() bool { return contact.answered() == 2 })
	waitUntil(t, "the agent hung up on", func() bool { return agent.ended() == 1 })
	if !rec.has(sip.Transferred) {
		t.Error("no Transferred report")
	}
	if err := call.Transfer(context.Background(), sip.Party{Number: "+442071234568"}); !errors.Is(err, sip.ErrTransferred) {
		t.Errorf("a second transfer = %v, want ErrTransferred", err)
	}
}

// TestPartyAnswerReportedBeforeItsACK: when the party's phone gets the ACK
// of its answer, the answer and its dialog are reported already, so that a
// gateway killed between the two leaves no party in a call no record names
// (after a blind transfer, nothing else would name the party's leg).
func TestPartyAnswerReportedBeforeItsACK(t *testing.T) {
	t.Parallel()
	call, rec, _, contact, party := dialParty(t, "party-answer-record")
	var atAck atomic.Value // what was reported of the party's dialog when its ACK came
	check := func(ack *sipgosip.Request) {
		tag, _ := ack.To().Params.Get("tag")
		found := "not reported"
		rec.mu.Lock()
		for _, p := range rec.got {
			for _, d := range p.Legs {
				if p.Kind == sip.PartyAnswered && d.Role == sip.RoleParty && tag != "" && strings.Contains(d.To, "tag="+tag) {
					found = "reported"
				}
			}
		}
		rec.mu.Unlock()
		atAck.CompareAndSwap(nil, found)
	}
	party.onAck.Store(&check)
	if err := call.Transfer(context.Background(), sip.Party{AgentURI: "sip:agent2@" + party.Addr}); err != nil {
		t.Fatalf("Transfer: %v", err)
	}
	grows(t, "party's audio at the contact", func() int { return contact.count(partyMark) }, 10)
	if got := atAck.Load(); got != "reported" {
		t.Errorf("the party's answer, when its ACK came: %v, want reported with its dialog", got)
	}
}
