package interaction

import (
	"errors"
	"regexp"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/phone"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
)

// Purpose is what a third party was asked for.
type Purpose string

const (
	PurposeConsult  Purpose = "consult"  // talk to the party, the contact on hold; then maybe transfer or conference
	PurposeTransfer Purpose = "transfer" // blind: the party takes the contact once they answer
)

// Third-party statuses, as PartyStatusChanged carries them. PartyNone is
// a party asked for and not rung yet (or none); PartyLeft is only in the
// event: a party that left is no party.
const (
	PartyNone        = agentv1.PartyStatus_PARTY_STATUS_UNSPECIFIED
	PartyRinging     = agentv1.PartyStatus_PARTY_STATUS_RINGING
	PartyConsulting  = agentv1.PartyStatus_PARTY_STATUS_CONSULTING
	PartyConference  = agentv1.PartyStatus_PARTY_STATUS_CONFERENCE
	PartyTransferred = agentv1.PartyStatus_PARTY_STATUS_TRANSFERRED
	PartyLeft        = agentv1.PartyStatus_PARTY_STATUS_LEFT
)

// Third is the third party of the call: what the agent asked for, then
// what the media gateway reported of it.
type Third struct {
	Purpose Purpose             // "" when no party was asked for
	Status  agentv1.PartyStatus // PartyNone until the party rings
	Agent   string              // the agent asked for; "" for a number
	Number  string              // the number asked for, E.164
	Name    string              // as the gateway shows the party: the agent id, or the number masked
	// Ending is the completion asked of the gateway and not answered yet.
	Ending agentv1.ConsultCompletion
	// Ring is the party agent's browser, rung for the call when their phone
	// is their browser (issue 15): their desktop answers it there.
	Ring BrowserRing
	// Browser: Ring is set (its URL may be empty: the desktop's origin).
	Browser bool
}

// BrowserParty is the call ringing, or up, on the party agent's browser:
// what their desktop answers (or, after a reload, takes back).
func (s State) BrowserParty() (agent string, ring BrowserRing, ok bool) {
	t := s.Third
	if !t.Browser || t.Agent == "" || s.Phase != Accepted || t.Status == PartyTransferred {
		return "", BrowserRing{}, false
	}
	switch t.Status {
	case PartyRinging, PartyConsulting, PartyConference:
		return t.Agent, t.Ring, true
	}
	return "", BrowserRing{}, false
}

// Asked says whether a party was asked for and has not left.
func (t Third) Asked() bool { return t.Purpose != "" }

// Party is whom a call goes to: exactly one of an agent, rung at PhoneURI,
// or a number.
type Party struct {
	Agent, PhoneURI string
	PhoneNumber     string
}

// Commands from the agent.
type (
	// Transfer the call blind: the party takes the contact once they answer.
	Transfer struct {
		Agent string
		Party Party
		At    time.Time
	}
	// Consult a party while the contact waits on hold.
	Consult struct {
		Agent string
		Party Party
		At    time.Time
	}
	// EndConsult ends a consultation or a conference: cancel, transfer or conference.
	EndConsult struct {
		Agent      string
		Completion agentv1.ConsultCompletion
		At         time.Time
	}
)

// Commands from the bus.
type (
	// PartyProgress is what the media gateway said of the party: ringing,
	// consulting, in conference, or left (and why).
	PartyProgress struct {
		CallID string
		Status agentv1.PartyStatus
		Party  string
		Cause  Cause
		// Browser, BrowserURL: the party agent's browser rings (Status
		// Ringing), answered at BrowserURL.
		Browser    bool
		BrowserURL string
		At         time.Time
	}
	// NoteTransfer: the contact now talks to the party, without the agent.
	NoteTransfer struct {
		CallID, Party string
		At            time.Time
	}
)

// Errors of a third party.
var (
	ErrPartyOnCall   = errors.New("a third party is on the call: end the consultation first")
	ErrNoParty       = errors.New("no third party on the call")
	ErrNotConsulting = errors.New("no consultation in progress")
	ErrSelf          = errors.New("an agent cannot transfer to or consult themselves")
	ErrCompletion    = errors.New("a consultation ends by cancel, transfer or conference")
	// ErrTransferred: the contact talks to the party now; calling them again
	// would ring them in the middle of that call.
	ErrTransferred = errors.New("the call was transferred: set a disposition and click Done")
	// ErrHandedOver: the call came to this agent by a transfer. The agent
	// holds, mutes, records and sends digits on it as on their own (the
	// gateway acts on the leg it was transferred to), but the call's one
	// third-party place is that very leg, so a consultation or a further
	// transfer waits for the agent's own next call.
	ErrHandedOver = errors.New("this call came to you by transfer: consult and transfer are not available on it")
)

// PartyError is a party the agent got wrong; Field names the request field.
type PartyError struct{ Field, Reason string }

func (e *PartyError) Error() string { return e.Field + ": " + e.Reason }

var (
	agentIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// Validate checks a party asked for by agent self.
func (p Party) Validate(self string) error {
	switch {
	case p.Agent == "" && p.PhoneNumber == "":
		return &PartyError{Field: "agent", Reason: "give an agent or a phone_number"}
	case p.Agent != "" && p.PhoneNumber != "":
		return &PartyError{Field: "phone_number", Reason: "give an agent or a phone_number, not both"}
	case p.PhoneNumber != "" && !phone.IsE164(p.PhoneNumber):
		return &PartyError{Field: "phone_number", Reason: "must be an E.164 number such as +14155550100"}
	case p.Agent != "" && !agentIDPattern.MatchString(p.Agent):
		return &PartyError{Field: "agent", Reason: "must be 1 to 64 letters, digits, dots, dashes or underscores"}
	case p.Agent == self:
		return ErrSelf
	case p.Agent != "" && p.PhoneURI == "":
		return ErrNoPhone
	}
	return nil
}

func (p Party) proto() *agentv1.Party {
	return &agentv1.Party{AgentId: p.Agent, PhoneUri: p.PhoneURI, PhoneNumber: p.PhoneNumber}
}

// name is the party as the agent reads it, before the gateway said it.
func (t Third) name() string {
	if t.Name != "" {
		return t.Name
	}
	return t.Agent
}

func (s State) decideParty(c any) ([]proto.Message, error) {
	switch c := c.(type) {
	case Transfer:
		if err := s.askParty(c.Agent, c.Party, PurposeTransfer); err != nil || s.sameAsk(c.Party, PurposeTransfer) {
			return nil, err
		}
		return []proto.Message{&agentv1.TransferRequested{InteractionId: s.ID, CallId: s.CallID, AgentId: c.Agent,
			Party: c.Party.proto(), At: ts(c.At)}}, nil
	case Consult:
		if err := s.askParty(c.Agent, c.Party, PurposeConsult); err != nil || s.sameAsk(c.Party, PurposeConsult) {
			return nil, err
		}
		return []proto.Message{&agentv1.ConsultRequested{InteractionId: s.ID, CallId: s.CallID, AgentId: c.Agent,
			Party: c.Party.proto(), At: ts(c.At)}}, nil
	case EndConsult:
		if err := s.accepted(c.Agent); err != nil {
			return nil, err
		}
		st := s.Third.Status
		switch c.Completion {
		case agentv1.ConsultCompletion_CONSULT_COMPLETION_CANCEL:
			if st != PartyRinging && st != PartyConsulting && st != PartyConference {
				return nil, ErrNoParty
			}
		case agentv1.ConsultCompletion_CONSULT_COMPLETION_TRANSFER:
			if st != PartyConsulting && st != PartyConference {
				return nil, ErrNotConsulting
			}
		case agentv1.ConsultCompletion_CONSULT_COMPLETION_CONFERENCE:
			if st != PartyConsulting {
				return nil, ErrNotConsulting
			}
		default:
			return nil, ErrCompletion
		}
		if s.Third.Ending == c.Completion {
			return nil, nil // a second click while the gateway works on the first
		}
		return []proto.Message{&agentv1.ConsultEndRequested{InteractionId: s.ID, CallId: s.CallID, AgentId: c.Agent,
			Completion: c.Completion, At: ts(c.At)}}, nil
	case PartyProgress:
		if c.CallID != s.CallID || s.Phase != Accepted || c.Status == s.Third.Status || (c.Status == PartyLeft && !s.Third.Asked()) {
			return nil, nil
		}
		e := &agentv1.PartyStatusChanged{InteractionId: s.ID, CallId: c.CallID, Status: c.Status, Party: c.Party, At: ts(c.At)}
		if c.Status == PartyRinging && c.Browser {
			e.Browser, e.BrowserUrl = true, c.BrowserURL
		}
		c.Cause.toParty(e)
		return []proto.Message{e}, nil
	case NoteTransfer:
		if c.CallID != s.CallID || s.Phase != Accepted || s.Third.Status == PartyTransferred {
			return nil, nil
		}
		if s.movedOn(c.CallID) {
			return nil, nil // a redelivery: the interaction went with the call
		}
		name := c.Party
		if name == "" {
			name = s.Third.name()
		}
		if to := s.Third.Agent; to != "" {
			// To an agent: the interaction goes with the call (issue 15),
			// so the receiving agent sets the disposition and clicks Done.
			// The note the first agent was typing is filed as theirs now,
			// so that it is in the contact history the receiving agent reads
			// and never becomes the receiving agent's draft.
			out := []proto.Message{&agentv1.PartyStatusChanged{InteractionId: s.ID, CallId: c.CallID, Status: PartyTransferred,
				Party: name, At: ts(c.At)}}
			if f := s.fileDraft(s.Agent, c.At); f != nil {
				out = append(out, f)
			}
			return append(out, &agentv1.InteractionTransferred{InteractionId: s.ID, CallId: c.CallID, FromAgentId: s.Agent,
				ToAgentId: to, At: ts(c.At), CallbackId: s.CallbackID}), nil
		}
		// To a number: the agent's leg is gone, Ready to Call, so that they
		// set a disposition and click Done.
		return []proto.Message{
			&agentv1.PartyStatusChanged{InteractionId: s.ID, CallId: c.CallID, Status: PartyTransferred, Party: name, At: ts(c.At)},
			&agentv1.CallStatusChanged{InteractionId: s.ID, CallId: c.CallID, Status: ReadyToCall, TransferredTo: name, At: ts(c.At)},
		}, nil
	}
	return nil, nil
}

// Handover is one move of the interaction from an agent to another.
type Handover struct {
	CallID, From, To string
	At               time.Time
}

// TransferredFrom is the agent who handed the interaction over last; ""
// if it never changed hands.
func (s State) TransferredFrom() string {
	if len(s.Transfers) == 0 {
		return ""
	}
	return s.Transfers[len(s.Transfers)-1].From
}

// CallHandedOver says whether the call in progress is the one the
// interaction came to this agent with (a transfer): the gateway offers no
// hold, mute or further transfer on it.
func (s State) CallHandedOver() bool {
	n := len(s.Transfers)
	return n > 0 && s.Transfers[n-1].CallID == s.CallID && s.CallStatus != ReadyToCall
}

// movedOn: the interaction already went to an agent with call callID, and
// no party was asked for since.
func (s State) movedOn(callID string) bool {
	return len(s.Transfers) > 0 && s.Transfers[len(s.Transfers)-1].CallID == callID && !s.Third.Asked()
}

// askParty checks that agent may ask for party now.
func (s State) askParty(agent string, p Party, purpose Purpose) error {
	if err := s.accepted(agent); err != nil {
		return err
	}
	if err := p.Validate(agent); err != nil {
		return err
	}
	if s.sameAsk(p, purpose) {
		return nil
	}
	if s.CallHandedOver() {
		return ErrHandedOver
	}
	if s.Third.Asked() {
		return ErrPartyOnCall
	}
	if s.CallStatus != Connected && s.CallStatus != OnHold {
		return ErrNotConnected
	}
	return nil
}

// sameAsk: the same party is already asked for the same purpose (a second click).
func (s State) sameAsk(p Party, purpose Purpose) bool {
	return s.Third.Purpose == purpose && s.Third.Status != PartyTransferred &&
		s.Third.Agent == p.Agent && s.Third.Number == p.PhoneNumber
}

// partyFailed: the gateway could not do a party request at all. A transfer
// or consultation that never rang is over; a completion is no longer awaited.
func (s State) partyFailed(c ControlFailed) []proto.Message {
	t := s.Third
	status := t.Status
	switch c.Action {
	case "transfer", "consult":
		if !t.Asked() || t.Status != PartyNone {
			return nil
		}
		status = PartyLeft
	case "complete transfer", "conference", "end consultation":
		if t.Ending == agentv1.ConsultCompletion_CONSULT_COMPLETION_UNSPECIFIED {
			return nil
		}
	default:
		return nil
	}
	return []proto.Message{&agentv1.PartyStatusChanged{InteractionId: s.ID, CallId: c.CallID, Status: status,
		Party: t.name(), FailedAction: c.Action, Detail: c.Reason, At: ts(c.At)}}
}

func (s State) evolveParty(e proto.Message) State {
	switch e := e.(type) {
	case *agentv1.TransferRequested:
		s.Third = Third{Purpose: PurposeTransfer, Agent: e.Party.GetAgentId(), Number: e.Party.GetPhoneNumber()}
		s.PartyCause, s.Updated = Cause{}, e.At.AsTime()
	case *agentv1.ConsultRequested:
		s.Third = Third{Purpose: PurposeConsult, Agent: e.Party.GetAgentId(), Number: e.Party.GetPhoneNumber()}
		s.PartyCause, s.Updated = Cause{}, e.At.AsTime()
	case *agentv1.ConsultEndRequested:
		s.Third.Ending, s.Updated = e.Completion, e.At.AsTime()
	case *agentv1.InteractionTransferred:
		// The receiving agent was the third party; now they are the agent,
		// on the call with the contact, and there is no third party.
		s.Transfers = append(s.Transfers[:len(s.Transfers):len(s.Transfers)],
			Handover{CallID: e.CallId, From: e.FromAgentId, To: e.ToAgentId, At: e.At.AsTime()})
		// The first agent's browser was hung up by the handover; the
		// receiving agent's, if their phone is their browser, is the
		// call's now (a reload takes it back there).
		ring := BrowserRing{}
		if s.Third.Browser && s.Third.Agent == e.ToAgentId {
			ring = s.Third.Ring
		}
		s.Agent, s.Third, s.BrowserRing = e.ToAgentId, Third{}, ring
		s.CallStatus, s.Cause = Connected, Cause{TransferredFrom: e.FromAgentId}
		s.Muted, s.Recording, s.Updated = false, false, e.At.AsTime()
	case *agentv1.PartyStatusChanged:
		status := partyStatusOf(e)
		s.Third.Status, s.Third.Ending = status, agentv1.ConsultCompletion_CONSULT_COMPLETION_UNSPECIFIED
		if e.Party != "" {
			s.Third.Name = e.Party
		}
		if e.Browser {
			s.Third.Browser, s.Third.Ring = true, BrowserRing{CallID: e.CallId, URL: e.BrowserUrl}
		}
		who := s.Third.name()
		if status == PartyLeft {
			s.Third = Third{}
		}
		s.PartyCause, s.Updated = partyCauseOf(e), e.At.AsTime()
		s.PartyCause.Party, s.PartyCause.PartyStatus = who, status
	}
	return s
}
