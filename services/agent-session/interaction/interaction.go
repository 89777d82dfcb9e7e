// Package interaction is the pure domain of a web-callback interaction as
// the agent handles it: the preview, Accept / Reject, the call status
// (Ready to Call, Establishing, Connected), a third party (transfer,
// consultation, conference), the disposition and Done.
// Stream agent-interaction-<id>.
package interaction

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/callwindow"
	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/libs/streams"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
)

// Stream names an interaction's stream.
func Stream(id string) string { return streams.AgentInteraction + id }

// Phase is where the interaction is for the agent.
type Phase int

const (
	None      Phase = iota
	Offered         // the preview is shown
	Accepting       // Accept clicked, the router has not confirmed yet
	Accepted        // the interaction window is open
	Withdrawn       // rejected or timed out: gone from this agent
	Done
)

// Call statuses, as the events carry them; the words for them are the
// API's (agent-session's words.go) and the desktop's.
const (
	ReadyToCall  = agentv1.CallStatus_CALL_STATUS_READY_TO_CALL
	Establishing = agentv1.CallStatus_CALL_STATUS_ESTABLISHING
	Connected    = agentv1.CallStatus_CALL_STATUS_CONNECTED
	OnHold       = agentv1.CallStatus_CALL_STATUS_ON_HOLD
)

// Cause is why the call status, or the third party, last changed, as the
// events carry it: at most one of its reasons is set. The API's words
// table says it to the agent.
type Cause struct {
	// Outcome: the call attempt (or the party) did not connect.
	Outcome mediav1.Outcome
	// End: the call (or the party's leg) ended.
	End mediav1.EndReason
	// TransferredTo: the party took the call (agent id, or masked number).
	TransferredTo string
	// TransferredFrom: the call came with the interaction from this agent.
	TransferredFrom string
	// FailedAction: the gateway could not carry out this call control.
	FailedAction string
	// Detail is the gateway's own words for it, for people.
	Detail string
	// Legacy is the agent's words an event stored before causes were
	// typed carried, shown as they are.
	Legacy string
	// Party and PartyStatus are, for the third party's cause, whom it is
	// about and the status it came with (Left: the party is gone).
	Party       string
	PartyStatus agentv1.PartyStatus
}

// State of an interaction.
type State struct {
	ID         string
	CallbackID string
	Agent      string
	Phase      Phase
	OfferID    string
	Request    *callbackv1.CallbackRequest
	Expires    time.Time
	AutoAnswer time.Time // zero: the agent answers by hand
	CanReject  bool
	QueuedAt   time.Time
	Scheduled  time.Time
	CallStatus agentv1.CallStatus
	Cause      Cause // why the call status last changed (busy, the contact hung up...)
	CallID     string
	Attempts   int // calls made in this interaction
	// PriorAttempts are the calls made to the contact before this
	// interaction (retries, reschedules).
	PriorAttempts int
	// Outcome of the last call if it did not reach the contact: busy,
	// no_answer or failed; empty once a call connects.
	Outcome     string
	Disposition string
	Muted       bool
	Recording   bool
	Updated     time.Time
	// RescheduledFor is when the callback is due again, if the agent moved it.
	RescheduledFor time.Time
	// EditedCaseData is the case information as last edited, if it was.
	EditedCaseData map[string]string
	// Draft is what the agent typed and did not save by hand (draft.go).
	Draft      Draft
	Third      Third // the third party, if one was asked for
	PartyCause Cause // why the third party last changed (no answer...); kept after it left
	// Transfers are the agents the interaction went from and to, oldest
	// first (InteractionTransferred); Agent is the last one's To.
	Transfers []Handover

	// BrowserRing is the last call that rang the agent's browser (browser.go).
	BrowserRing BrowserRing
}

// CaseData is the case information the agent sees.
func (s State) CaseData() map[string]string {
	if s.EditedCaseData != nil {
		return s.EditedCaseData
	}
	return s.Request.GetCaseData()
}

// Commands from the agent.
type (
	Accept struct {
		Agent string
		At    time.Time
	}
	Reject struct {
		Agent string
		At    time.Time
	}
	Call struct {
		Agent, CallID, PhoneURI string
		At                      time.Time
		// Windows are the calling windows per service in the contact's
		// local time; nil is none.
		Windows callwindow.Services
		// Services give the service's retry policy: after a call that did
		// not reach the contact, the agent redials only within its attempts.
		Services *serviceconf.Set
		// ContactCancelled: the callback was cancelled (its intake stream
		// says so), by the visitor or a supervisor, after the agent took
		// it: the contact was told they will not be called.
		ContactCancelled bool
	}
	EndCall struct {
		Agent string
		At    time.Time
	}
	Finish struct {
		Agent              string
		RequireDisposition bool
		At                 time.Time
		// Services give the service's retry policy: a disposition code may
		// ask for another try, and used attempts complete the callback
		// unreached.
		Services *serviceconf.Set
	}
	// Hold puts the contact on hold (Hold) or takes them back (Retrieve).
	Hold struct {
		Agent string
		Hold  bool
		At    time.Time
	}
	SendDTMF struct {
		Agent, Digits string
		At            time.Time
	}
	Mute struct {
		Agent string
		Mute  bool
		At    time.Time
	}
	Record struct {
		Agent  string
		Record bool
		At     time.Time
	}
)

// Commands from the bus.
type (
	Present struct{ Offer *agentv1.InteractionPresented }
	Confirm struct {
		Agent string
		At    time.Time
	}
	Withdraw struct {
		Agent, Reason string
		At            time.Time
	}
	// Flags is what the media gateway said of mute or recording; a nil
	// one it did not speak of, so the new flags are decided from the
	// folded state, never from a copy read before the command.
	Flags struct {
		CallID           string
		Muted, Recording *bool
		At               time.Time
	}
	// ControlFailed: the gateway could not hold, send DTMF, mute or record.
	ControlFailed struct {
		CallID, Action, Reason string
		At                     time.Time
	}
	// Progress is what the media gateway said of the call, and why;
	// Outcome is busy, no_answer or failed for an attempt that did not
	// reach the contact (the retry policy's word).
	Progress struct {
		CallID  string
		Status  agentv1.CallStatus
		Cause   Cause
		Outcome string
		At      time.Time
	}
	// AutoRetry ends the interaction after a call that did not reach the
	// contact when the service's policy gives the next attempt to the
	// scheduler, or completes the callback when the attempts are used.
	AutoRetry struct {
		Services *serviceconf.Set
		At       time.Time
	}
	NoteDisposition struct {
		Code string
		At   time.Time
	}
	// Reschedule moves the callback to another time.
	Reschedule struct {
		Agent string
		Time  time.Time
		// Personal: it comes back to this agent only.
		Personal bool
		At       time.Time
	}
	NoteCaseData struct {
		CaseData map[string]string
		At       time.Time
	}
)

// Errors the agent can get.
var (
	ErrNotFound        = errors.New("no such interaction")
	ErrNotYours        = errors.New("interaction is not offered to or accepted by this agent")
	ErrNotOffered      = errors.New("interaction is not offered")
	ErrExpired         = errors.New("offer expired")
	ErrNotAccepted     = errors.New("interaction is not accepted")
	ErrInCall          = errors.New("a call is in progress")
	ErrNoCall          = errors.New("no call in progress")
	ErrNeedDisposition = errors.New("a disposition code is required before Done")
	ErrNoPhone         = errors.New("agent has no phone to ring")
	ErrCannotReject    = errors.New("this agent's auto-answered offers cannot be rejected")
	ErrNotConnected    = errors.New("the call is not connected")
	ErrNotOnHold       = errors.New("the call is not on hold")
	ErrDigits          = errors.New("digits must be 1 to 32 of 0-9, *, #, A-D")
	ErrRescheduleTime  = errors.New("the new time must be in the future and within 90 days")
	// ErrAttemptsUsed: the retry policy allows no more calls; Done
	// completes the callback, or the agent reschedules it.
	ErrAttemptsUsed = errors.New("the attempts the service allows are used: reschedule or click Done")
	// ErrContactCancelled: the callback was cancelled after the agent took
	// it, in the moment before intake knew (Call.ContactCancelled).
	ErrContactCancelled = errors.New("the contact cancelled this callback: do not call them; click Done")
)

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// Decide turns a command into events.
func Decide(s State, c Command) ([]proto.Message, error) {
	switch c := c.(type) {
	case Present:
		o := c.Offer
		if s.OfferID == o.OfferId || s.Phase == Accepted || s.Phase == Done {
			return nil, nil
		}
		return []proto.Message{o}, nil
	case Accept:
		if err := s.mine(c.Agent); err != nil {
			return nil, err
		}
		switch {
		case s.Phase == Accepting || s.Phase == Accepted:
			return nil, nil // a second click
		case s.Phase != Offered:
			return nil, ErrNotOffered
		case !c.At.Before(s.Expires):
			return nil, ErrExpired
		}
		return []proto.Message{&agentv1.AcceptRequested{InteractionId: s.ID, AgentId: c.Agent, OfferId: s.OfferID, At: ts(c.At)}}, nil
	case Reject:
		if err := s.mine(c.Agent); err != nil {
			return nil, err
		}
		if s.Phase != Offered {
			return nil, ErrNotOffered
		}
		if !s.CanReject {
			return nil, ErrCannotReject
		}
		return []proto.Message{&agentv1.RejectRequested{InteractionId: s.ID, AgentId: c.Agent, OfferId: s.OfferID, At: ts(c.At)}}, nil
	case Confirm:
		if s.Phase == Accepted || s.Phase == Done || s.Agent != c.Agent {
			return nil, nil
		}
		return []proto.Message{&agentv1.InteractionAccepted{InteractionId: s.ID, AgentId: c.Agent, At: ts(c.At)}}, nil
	case Withdraw:
		// No agent named: the interaction itself is gone (the visitor cancelled).
		if (s.Phase != Offered && s.Phase != Accepting) || (c.Agent != "" && s.Agent != c.Agent) {
			return nil, nil
		}
		return []proto.Message{&agentv1.InteractionWithdrawn{InteractionId: s.ID, AgentId: s.Agent, Reason: c.Reason, At: ts(c.At)}}, nil
	case Call:
		if err := s.accepted(c.Agent); err != nil {
			return nil, err
		}
		if s.Third.Asked() {
			return nil, ErrTransferred
		}
		if s.CallStatus != ReadyToCall {
			return nil, ErrInCall
		}
		if c.ContactCancelled {
			return nil, ErrContactCancelled
		}
		if c.PhoneURI == "" {
			return nil, ErrNoPhone
		}
		if err := outsideWindow(c.At, c.Windows, s.Request); err != nil {
			return nil, err
		}
		if p, ok := s.retry(c.Services).Outcomes[serviceconf.Outcome(s.Outcome)]; ok && p.Then == serviceconf.ThenAgent && s.TotalAttempts() >= p.Attempts {
			return nil, ErrAttemptsUsed
		}
		return []proto.Message{&agentv1.DialRequested{InteractionId: s.ID, CallId: c.CallID, AgentId: c.Agent,
			AgentPhoneUri: c.PhoneURI, PhoneNumber: s.Request.GetPhoneNumber(), Service: s.Request.GetService(), At: ts(c.At)}}, nil
	case EndCall:
		if err := s.accepted(c.Agent); err != nil {
			return nil, err
		}
		if s.CallStatus == ReadyToCall {
			return nil, ErrNoCall
		}
		return []proto.Message{&agentv1.HangupRequested{InteractionId: s.ID, CallId: s.CallID, AgentId: c.Agent, At: ts(c.At)}}, nil
	case Progress:
		if c.CallID != s.CallID || s.Phase != Accepted || c.Status == s.CallStatus {
			return nil, nil // a late word about an earlier attempt
		}
		e := &agentv1.CallStatusChanged{InteractionId: s.ID, CallId: c.CallID, Status: c.Status, Outcome: c.Outcome, At: ts(c.At)}
		c.Cause.toCall(e)
		return []proto.Message{e}, nil
	case AutoRetry:
		return s.autoRetry(c)
	case Hold:
		if err := s.accepted(c.Agent); err != nil {
			return nil, err
		}
		if s.Third.Asked() {
			// The gateway holds and retrieves the contact itself around a
			// consultation; the agent ends it instead.
			return nil, ErrPartyOnCall
		}
		switch {
		case c.Hold && s.CallStatus == OnHold, !c.Hold && s.CallStatus == Connected:
			return nil, nil
		case c.Hold && s.CallStatus != Connected:
			return nil, ErrNotConnected
		case !c.Hold && s.CallStatus != OnHold:
			return nil, ErrNotOnHold
		}
		return []proto.Message{&agentv1.HoldRequested{InteractionId: s.ID, CallId: s.CallID, Hold: c.Hold, At: ts(c.At)}}, nil
	case SendDTMF:
		if err := s.accepted(c.Agent); err != nil {
			return nil, err
		}
		if !validDigits(c.Digits) {
			return nil, ErrDigits
		}
		if s.CallStatus != Connected {
			return nil, ErrNotConnected
		}
		return []proto.Message{&agentv1.DtmfRequested{InteractionId: s.ID, CallId: s.CallID, Digits: c.Digits, At: ts(c.At)}}, nil
	case Mute:
		if err := s.accepted(c.Agent); err != nil {
			return nil, err
		}
		if s.CallStatus != Connected && s.CallStatus != OnHold {
			return nil, ErrNotConnected
		}
		return []proto.Message{&agentv1.MuteRequested{InteractionId: s.ID, CallId: s.CallID, Muted: c.Mute, At: ts(c.At)}}, nil
	case Record:
		if err := s.accepted(c.Agent); err != nil {
			return nil, err
		}
		if s.CallStatus != Connected && s.CallStatus != OnHold {
			return nil, ErrNotConnected
		}
		return []proto.Message{&agentv1.RecordingRequested{InteractionId: s.ID, CallId: s.CallID, Record: c.Record, At: ts(c.At)}}, nil
	case ControlFailed:
		if c.CallID != s.CallID || s.Phase != Accepted {
			return nil, nil
		}
		out := []proto.Message{&agentv1.CallStatusChanged{InteractionId: s.ID, CallId: c.CallID, Status: s.CallStatus,
			FailedAction: c.Action, Detail: c.Reason, At: ts(c.At)}}
		return append(out, s.partyFailed(c)...), nil
	case Transfer, Consult, EndConsult, PartyProgress, NoteTransfer:
		return s.decideParty(c)
	case RingBrowser:
		return s.decideRing(c)
	case Flags:
		muted, recording := s.Muted, s.Recording
		if c.Muted != nil {
			muted = *c.Muted
		}
		if c.Recording != nil {
			recording = *c.Recording
		}
		if c.CallID != s.CallID || (muted == s.Muted && recording == s.Recording) {
			return nil, nil
		}
		return []proto.Message{&agentv1.CallFlagsChanged{InteractionId: s.ID, CallId: c.CallID, Muted: muted, Recording: recording, At: ts(c.At)}}, nil
	case Reschedule:
		if err := s.accepted(c.Agent); err != nil {
			return nil, err
		}
		if !c.Time.After(c.At) || c.Time.After(c.At.Add(90*24*time.Hour)) {
			return nil, ErrRescheduleTime
		}
		return []proto.Message{&agentv1.RescheduleRequested{InteractionId: s.ID, CallbackId: s.CallbackID, AgentId: c.Agent,
			Time: ts(c.Time), Personal: c.Personal, At: ts(c.At)}}, nil
	case NoteCaseData:
		if s.Phase == None || maps.Equal(s.CaseData(), c.CaseData) {
			return nil, nil
		}
		return []proto.Message{&agentv1.CaseDataNoted{InteractionId: s.ID, CaseData: c.CaseData, At: ts(c.At)}}, nil
	case NoteDisposition:
		if s.Disposition == c.Code {
			return nil, nil
		}
		return []proto.Message{&agentv1.DispositionNoted{InteractionId: s.ID, Code: c.Code, At: ts(c.At)}}, nil
	case Finish:
		if s.Phase == Done {
			return nil, nil
		}
		if err := s.accepted(c.Agent); err != nil {
			return nil, err
		}
		if s.CallStatus != ReadyToCall {
			return nil, ErrInCall
		}
		if c.RequireDisposition && s.Disposition == "" {
			return nil, ErrNeedDisposition
		}
		return s.ending(c.Agent, c.At, s.finish(c)), nil
	case SaveDraft:
		return s.saveDraft(c)
	}
	return nil, fmt.Errorf("interaction: unknown command %T", c)
}

func (s State) mine(agent string) error {
	if s.Phase == None {
		return ErrNotFound
	}
	if agent != s.Agent {
		return ErrNotYours
	}
	return nil
}

func (s State) accepted(agent string) error {
	if err := s.mine(agent); err != nil {
		return err
	}
	if s.Phase != Accepted {
		return ErrNotAccepted
	}
	return nil
}

// Evolve applies one event.
func Evolve(s State, e proto.Message) State {
	switch e := e.(type) {
	case *agentv1.InteractionPresented:
		s.ID, s.CallbackID, s.Agent, s.OfferID = e.InteractionId, e.CallbackId, e.AgentId, e.OfferId
		s.Request, s.Phase, s.Expires = e.Request, Offered, e.ExpiresAt.AsTime()
		s.QueuedAt, s.Scheduled, s.Updated = e.QueuedAt.AsTime(), e.ScheduledFor.AsTime(), e.At.AsTime()
		s.PriorAttempts = int(e.Attempts)
		s.AutoAnswer, s.CanReject = time.Time{}, true
		if e.AutoAnswerAt != nil {
			s.AutoAnswer, s.CanReject = e.AutoAnswerAt.AsTime(), e.CanReject
		}
	case *agentv1.AcceptRequested:
		s.Phase, s.Updated = Accepting, e.At.AsTime()
	case *agentv1.InteractionAccepted:
		s.Phase, s.CallStatus, s.Updated = Accepted, ReadyToCall, e.At.AsTime()
	case *agentv1.InteractionWithdrawn, *agentv1.RejectRequested:
		s.Phase = Withdrawn
	case *agentv1.DialRequested:
		s.CallID, s.CallStatus, s.Cause, s.Updated = e.CallId, Establishing, Cause{}, e.At.AsTime()
		s.Attempts++
		s.Outcome = ""
	case *agentv1.CallStatusChanged:
		s.CallStatus, s.Cause, s.Updated = callStatusOf(e), callCauseOf(e), e.At.AsTime()
		if e.Outcome != "" {
			s.Outcome = e.Outcome
		}
		if s.CallStatus == ReadyToCall {
			s.Muted, s.Recording = false, false
			// The gateway closes every party before the call ends; a request
			// it never answered ends with the call. A transferred call goes
			// on without the agent, until its PartyLeft.
			if s.Third.Status != PartyTransferred {
				s.Third = Third{}
			}
		}
	case *agentv1.CallFlagsChanged:
		s.Muted, s.Recording, s.Updated = e.Muted, e.Recording, e.At.AsTime()
	case *agentv1.DispositionNoted:
		s.Disposition = e.Code
	case *agentv1.RescheduleRequested:
		s.RescheduledFor = e.Time.AsTime()
	case *agentv1.CaseDataNoted:
		s.EditedCaseData = e.CaseData
	case *agentv1.InteractionDone:
		s.Phase, s.Updated = Done, e.At.AsTime()
	case *agentv1.BrowserRinging:
		s.BrowserRing = BrowserRing{CallID: e.CallId, URL: e.Url}
	default:
		if d, ok := s.evolveDraft(e); ok {
			return d
		}
		s = s.evolveParty(e)
	}
	return s
}

func validDigits(d string) bool {
	if len(d) == 0 || len(d) > 32 {
		return false
	}
	for _, r := range d {
		if !strings.ContainsRune("0123456789*#ABCD", r) {
			return false
		}
	}
	return true
}
