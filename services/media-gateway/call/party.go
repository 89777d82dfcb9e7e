package call

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
)

// Party is a third party on a call: consulted, conferenced, or transferred
// to.
type Party struct {
	AgentID string // empty for a number
	Display string // the agent id, or the number masked
	Purpose mediav1.PartyPurpose
	Phase   PartyPhase
	// Browser: the party agent's phone is their browser, which answers by
	// posting its offer to BrowserURL (the ringing instance's).
	Browser    bool
	BrowserURL string
}

// PartyPhase is where the third party is.
type PartyPhase int

const (
	NoParty PartyPhase = iota
	PartyRung
	PartyTalking // consulted: talking to the agent
	PartyConferenced
	PartyTransferred
)

// decideParty turns a third party's step into events. Each event is
// recorded once, in order: PartyRinging, PartyAlerting (with the party's
// early dialog, when it rings), PartyAnswered (with the party's leg,
// before its ACK), then PartyConnected, ConferenceStarted or
// CallTransferred, and one PartyLeft at the end.
func decideParty(s State, c Report) ([]proto.Message, error) {
	at := timestamppb.New(c.At)
	p := s.Party
	switch c.Step {
	case PartyRinging:
		if s.Status != Connected || p.Phase != NoParty {
			return nil, nil
		}
		var out []proto.Message
		if !s.Held {
			// The gateway holds the contact before ringing anyone.
			out = append(out, &mediav1.CallHeld{CallId: s.ID, InteractionId: s.Interaction, Held: true, At: at})
		}
		return append(out, &mediav1.PartyRinging{CallId: s.ID, InteractionId: s.Interaction, Purpose: c.Party.Purpose,
			PartyAgentId: c.Party.AgentID, Party: c.Party.Display, Browser: c.Party.Browser, BrowserUrl: c.Party.BrowserURL, At: at}), nil
	case PartyAlert:
		if s.Status == Connected && p.Phase == PartyRung && s.PartyLeg == nil && c.Legs[LegParty] != nil {
			return []proto.Message{&mediav1.PartyAlerting{CallId: s.ID, InteractionId: s.Interaction,
				PartyAgentId: p.AgentID, Party: p.Display, At: at, PartyLeg: c.Legs[LegParty]}}, nil
		}
	case PartyAnswer:
		// The answer replaces the early dialog its ringing recorded, once.
		if s.Status == Connected && p.Phase == PartyRung && (s.PartyLeg.GetEarly() || otherDialog(s.PartyLeg, c.Legs[LegParty])) &&
			c.Legs[LegParty] != nil {
			return []proto.Message{&mediav1.PartyAnswered{CallId: s.ID, InteractionId: s.Interaction,
				PartyAgentId: p.AgentID, Party: p.Display, At: at, PartyLeg: c.Legs[LegParty]}}, nil
		}
	case PartyConnected:
		if s.Status == Connected && p.Phase == PartyRung {
			return []proto.Message{&mediav1.PartyConnected{CallId: s.ID, InteractionId: s.Interaction,
				PartyAgentId: p.AgentID, Party: p.Display, At: at, PartyLeg: c.Legs[LegParty]}}, nil
		}
	case Conference:
		if s.Status == Connected && p.Phase == PartyTalking {
			var out []proto.Message
			if s.Held {
				out = append(out, &mediav1.CallHeld{CallId: s.ID, InteractionId: s.Interaction, Held: false, At: at})
			}
			return append(out, &mediav1.ConferenceStarted{CallId: s.ID, InteractionId: s.Interaction,
				PartyAgentId: p.AgentID, Party: p.Display, At: at}), nil
		}
	case Transfer:
		if s.Status == Connected && p.Phase != NoParty && p.Phase != PartyTransferred {
			return []proto.Message{&mediav1.CallTransferred{CallId: s.ID, InteractionId: s.Interaction,
				PartyAgentId: p.AgentID, Party: p.Display, Blind: p.Purpose == mediav1.PartyPurpose_PARTY_PURPOSE_TRANSFER, At: at}}, nil
		}
	case PartyLeave:
		if p.Phase != NoParty {
			left := &mediav1.PartyLeft{CallId: s.ID, InteractionId: s.Interaction, PartyAgentId: p.AgentID,
				Party: p.Display, Reason: c.Reason, Outcome: c.Outcome, SipCode: int32(c.Code), At: at}
			if c.Outcome == mediav1.Outcome_OUTCOME_UNSPECIFIED {
				left.EndReason = endOr(c.End) // it answered: why its leg ended
			}
			return []proto.Message{left}, nil
		}
	}
	return nil, nil
}

func evolveParty(s State, e proto.Message) State {
	switch e := e.(type) {
	case *mediav1.PartyRinging:
		s.Party = Party{AgentID: e.PartyAgentId, Display: e.Party, Purpose: e.Purpose, Phase: PartyRung}
	case *mediav1.PartyAlerting:
		s.PartyLeg = e.PartyLeg // early: a lost call's is cancelled
	case *mediav1.PartyAnswered:
		s.PartyLeg = e.PartyLeg // still rung: a consult is not connected until PartyConnected
	case *mediav1.PartyConnected:
		s.Party.Phase = PartyTalking
		if e.PartyLeg != nil {
			s.PartyLeg = e.PartyLeg
		}
	case *mediav1.ConferenceStarted:
		s.Party.Phase = PartyConferenced
	case *mediav1.CallTransferred:
		// The gateway hangs up the agent's leg: the party's is the other
		// side now.
		s.Party.Phase, s.Held = PartyTransferred, false
		s.AgentLeg = nil
	case *mediav1.PartyLeft:
		s.Party = Party{}
		s.PartyLeg = nil
	}
	return s
}
