package call

import (
	"errors"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
)

// Ownership. The instance that placed a call owns it: it alone holds the
// call's SIP dialogs. Its writes carry its lease's generation (the store
// fences a deposed owner). Two commands come from the other instances:
// Forward, a control request for the owner, and Lose, the end of a call
// whose owner died, after the instance that took its lease over hung up
// the legs.

// Roles of the legs in Report.Legs and in Lose.
const (
	LegAgent   = "agent"
	LegContact = "contact"
	LegParty   = "party"
)

// Lose closes a call whose owner is gone: By (process Holder) took the
// owner's lease over, at generation Generation, and ended the legs in
// HungUp (BYE, or CANCEL while ringing).
type Lose struct {
	By, Holder string
	Generation uint64
	HungUp     []string
	Reason     string
	At         time.Time
}

// Forward hands a control request to the call's owner through the call's
// stream.
type Forward struct {
	Via                        string
	EventID, Correlation, Type string
	Event                      []byte
	At                         time.Time
}

// LostTo says whether the call is lost once holder holds its owner's
// lease: it is unfinished and another process placed it. (Generations
// alone would not say: the embedded store forgets its leases when it
// restarts, and they start again from 1.)
func (s State) LostTo(holder string) bool {
	return s.Status != None && !s.Status.Final() && s.Holder != holder
}

// Legs are the dialogs of the legs up, by role.
func (s State) Legs() map[string]*mediav1.LegDialog {
	out := map[string]*mediav1.LegDialog{}
	for role, l := range map[string]*mediav1.LegDialog{LegAgent: s.AgentLeg, LegContact: s.ContactLeg, LegParty: s.PartyLeg} {
		if l != nil {
			out[role] = l
		}
	}
	return out
}

func decideOwner(s State, c any) ([]proto.Message, error) {
	if s.Status == None || s.Status.Final() {
		return nil, nil // nothing to forward to, nothing to lose
	}
	switch c := c.(type) {
	case Lose:
		if c.Holder == s.Holder {
			return nil, ErrNotLost
		}
		at := timestamppb.New(c.At)
		lost := &mediav1.CallLost{CallId: s.ID, InteractionId: s.Interaction, Owner: s.Instance, Generation: s.Generation,
			TakenOverBy: c.By, LegsHungUp: c.HungUp, At: at}
		var party []proto.Message
		if s.Party.Phase != NoParty {
			// Every PartyRinging gets its PartyLeft.
			party = []proto.Message{&mediav1.PartyLeft{CallId: s.ID, InteractionId: s.Interaction, PartyAgentId: s.Party.AgentID,
				Party: s.Party.Display, Reason: c.Reason, EndReason: mediav1.EndReason_END_REASON_CALL_LOST, At: at}}
		}
		if s.Status == Dialling {
			return append(append([]proto.Message{lost}, party...), &mediav1.DialFailed{CallId: s.ID, InteractionId: s.Interaction,
				Outcome: mediav1.Outcome_OUTCOME_FAILED, Reason: c.Reason, At: at}), nil
		}
		return append(append([]proto.Message{lost}, party...), &mediav1.CallEnded{CallId: s.ID, InteractionId: s.Interaction,
			Reason: c.Reason, EndReason: mediav1.EndReason_END_REASON_CALL_LOST, At: at}), nil
	case Forward:
		return []proto.Message{&mediav1.ControlForwarded{CallId: s.ID, Owner: s.Instance, EventId: c.EventID,
			Correlation: c.Correlation, EventType: c.Type, Event: c.Event, Via: c.Via, At: timestamppb.New(c.At)}}, nil
	}
	return nil, nil
}

// ErrNotLost: Lose by the very process that placed the call, which holds
// its dialogs: a call is lost only to another.
var ErrNotLost = errors.New("call: not lost: its own holder cannot lose it")
