// Package call is the pure domain of one call attempt as the media gateway
// places it: stream media-call-<id>. It records what the SIP legs did and
// guarantees one dial per attempt.
package call

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/streams"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
)

// Stream names a call attempt's stream.
// StreamPrefix starts every call's stream.
const StreamPrefix = streams.MediaCall

func Stream(id string) string { return StreamPrefix + id }

// Status of a call attempt.
type Status int

const (
	None Status = iota
	Dialling
	Connected
	Failed
	Ended
)

// Final says whether nothing more can happen to the call.
func (s Status) Final() bool { return s == Failed || s == Ended }

// State of a call attempt.
type State struct {
	ID, Interaction string
	Status          Status
	// Instance owns the call: process Holder of that instance placed it
	// under lease generation Generation (owner.go).
	Instance, Holder string
	Generation       uint64
	// The legs' dialogs while they are up, for an instance taking over a
	// lost call to hang them up; nil while a leg is not answered, or gone.
	AgentLeg, ContactLeg, PartyLeg *mediav1.LegDialog
	ContactRinging                 bool
	Held                           bool // the contact is on hold
	// Party is the third party on the call, if any (party.go).
	Party Party
}

// Start asks to place the call.
type Start struct {
	ID, Interaction, Agent, AgentURI, ContactURI, Instance, Holder string
	Generation                                                     uint64
	At                                                             time.Time
}

// Step is something a leg did.
type Step int

const (
	AgentRinging Step = iota + 1
	AgentAnswered
	ContactRinging
	Connect
	Fail
	End
	// The third party's steps (party.go).
	PartyRinging
	PartyAlert
	PartyAnswer
	PartyConnected
	Conference
	Transfer
	PartyLeave
)

// Report records a step.
type Report struct {
	Step    Step
	Outcome mediav1.Outcome
	// End is why the call (End), or the party's leg (PartyLeave, when it
	// answered), ended; Reason is the same for people.
	End    mediav1.EndReason
	Code   int
	Reason string
	At     time.Time
	// Party is who the third party's steps are about.
	Party Party
	// Legs are the dialogs of the legs answered at this step, by role
	// ("agent", "contact", "party").
	Legs map[string]*mediav1.LegDialog
	// Browser (AgentRinging): the agent's phone is their browser, which
	// answers at BrowserURL (the gateway instance's signalling).
	Browser    bool
	BrowserURL string
}

// Decide turns a command into events. Start on an existing call is nothing:
// that is what makes a redelivered DialRequested harmless.
func Decide(s State, c Command) ([]proto.Message, error) {
	switch c := c.(type) {
	case Start:
		if s.Status != None {
			return nil, nil
		}
		return []proto.Message{&mediav1.DialStarted{CallId: c.ID, InteractionId: c.Interaction, AgentId: c.Agent,
			AgentUri: c.AgentURI, ContactUri: c.ContactURI, At: timestamppb.New(c.At), Instance: c.Instance,
			Generation: c.Generation, Holder: c.Holder}}, nil
	case Report:
		if c.Step == PartyLeave {
			// Even after the end: every PartyRinging gets its PartyLeft,
			// and a party dropped as the call ends may come last.
			return decideParty(s, c)
		}
		if s.Status == None || s.Status.Final() {
			return nil, nil
		}
		at := timestamppb.New(c.At)
		switch c.Step {
		case AgentRinging:
			if s.Status == Dialling {
				return []proto.Message{&mediav1.AgentRinging{CallId: s.ID, InteractionId: s.Interaction, At: at,
					ContactLeg: c.Legs[LegContact], AgentLeg: c.Legs[LegAgent], Browser: c.Browser, BrowserUrl: c.BrowserURL}}, nil
			}
		case AgentAnswered:
			if s.Status == Dialling {
				return []proto.Message{&mediav1.AgentAnswered{CallId: s.ID, InteractionId: s.Interaction, At: at,
					AgentLeg: c.Legs[LegAgent], ContactLeg: c.Legs[LegContact]}}, nil
			}
		case ContactRinging:
			// Again only with a dialog not on record: the answer, when no
			// ringing came before it or it came from another fork, is
			// recorded this way before it is acknowledged.
			if s.Status == Dialling && (!s.ContactRinging || otherDialog(s.ContactLeg, c.Legs[LegContact])) {
				return []proto.Message{&mediav1.ContactRinging{CallId: s.ID, InteractionId: s.Interaction, SipCode: int32(c.Code), At: at,
					ContactLeg: c.Legs[LegContact]}}, nil
			}
		case Connect:
			if s.Status == Dialling {
				return []proto.Message{&mediav1.CallConnected{CallId: s.ID, InteractionId: s.Interaction, At: at,
					AgentLeg: c.Legs[LegAgent], ContactLeg: c.Legs[LegContact]}}, nil
			}
		case Fail:
			if s.Status == Dialling {
				return []proto.Message{&mediav1.DialFailed{CallId: s.ID, InteractionId: s.Interaction, Outcome: c.Outcome,
					SipCode: int32(c.Code), Reason: c.Reason, At: at}}, nil
			}
			return []proto.Message{&mediav1.CallEnded{CallId: s.ID, InteractionId: s.Interaction, Reason: c.Reason,
				EndReason: mediav1.EndReason_END_REASON_OTHER, At: at}}, nil
		case PartyRinging, PartyAlert, PartyAnswer, PartyConnected, Conference, Transfer:
			return decideParty(s, c)
		case End:
			if s.Status == Dialling {
				return []proto.Message{&mediav1.DialFailed{CallId: s.ID, InteractionId: s.Interaction,
					Outcome: mediav1.Outcome_OUTCOME_CANCELLED, Reason: c.Reason, At: at}}, nil
			}
			return []proto.Message{&mediav1.CallEnded{CallId: s.ID, InteractionId: s.Interaction, Reason: c.Reason,
				EndReason: endOr(c.End), At: at}}, nil
		default:
			return nil, fmt.Errorf("call: unknown step %d", c.Step)
		}
		return nil, nil
	case Control:
		return decideControl(s, c)
	case Lose, Forward:
		return decideOwner(s, c)
	}
	return nil, fmt.Errorf("call: unknown command %T", c)
}

// endOr is end, or OTHER for a report that did not say: a CallEnded the
// gateway writes always says why.
func endOr(end mediav1.EndReason) mediav1.EndReason {
	if end == mediav1.EndReason_END_REASON_UNSPECIFIED {
		return mediav1.EndReason_END_REASON_OTHER
	}
	return end
}

// otherDialog says whether b is a dialog a is not: another Call-ID or
// another remote tag.
func otherDialog(a, b *mediav1.LegDialog) bool {
	return b != nil && (a == nil || a.GetCallId() != b.GetCallId() || a.GetTo() != b.GetTo())
}

// Evolve applies one event.
func Evolve(s State, e proto.Message) State {
	switch e := e.(type) {
	case *mediav1.DialStarted:
		s.ID, s.Interaction, s.Status, s.Instance = e.CallId, e.InteractionId, Dialling, e.Instance
		s.Generation, s.Holder = e.Generation, e.Holder
	case *mediav1.AgentRinging:
		if e.ContactLeg != nil { // contact first: the contact is up already
			s.ContactLeg = e.ContactLeg
		}
		if e.AgentLeg != nil && s.AgentLeg == nil { // ringing: a lost call's is cancelled
			s.AgentLeg = e.AgentLeg
		}
	case *mediav1.AgentAnswered:
		s.AgentLeg = e.AgentLeg
		if e.ContactLeg != nil {
			s.ContactLeg = e.ContactLeg
		}
	case *mediav1.ContactRinging:
		s.ContactRinging = true
		if e.ContactLeg != nil {
			s.ContactLeg = e.ContactLeg
		}
	case *mediav1.CallConnected:
		s.Status = Connected
		if e.AgentLeg != nil {
			s.AgentLeg = e.AgentLeg
		}
		if e.ContactLeg != nil {
			s.ContactLeg = e.ContactLeg
		}
	case *mediav1.DialFailed:
		s.Status = Failed
		s.AgentLeg, s.ContactLeg, s.PartyLeg = nil, nil, nil
	case *mediav1.CallEnded:
		s.Status = Ended
		s.AgentLeg, s.ContactLeg, s.PartyLeg = nil, nil, nil
	case *mediav1.CallHeld:
		s.Held = e.Held
	default:
		s = evolveParty(s, e)
	}
	return s
}
