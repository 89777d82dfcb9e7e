package call

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
)

// Action is a request on a live call, as CallControlFailed names it (the
// agent's desktop words it).
type Action string

// The agent's requests on the call, then the third-party ones.
const (
	ActionHold          Action = "hold"
	ActionRetrieve      Action = "retrieve"
	ActionDTMF          Action = "dtmf"
	ActionMute          Action = "mute"
	ActionRecord        Action = "record"
	ActionStopRecording Action = "stop recording"

	ActionConsult          Action = "consult"
	ActionTransfer         Action = "transfer"
	ActionCompleteTransfer Action = "complete transfer"
	ActionConference       Action = "conference"
	ActionEndConsultation  Action = "end consultation"
)

// party says whether the action is about a third party: its success is
// recorded by the party's own steps (Report), and its failure is worth
// telling the agent while the call exists at all.
func (a Action) party() bool {
	switch a {
	case ActionConsult, ActionTransfer, ActionCompleteTransfer, ActionConference, ActionEndConsultation:
		return true
	}
	return false
}

// Control is what the gateway made of a request on the live call: carried
// out (Failed empty), with what it did, or not, and why. The gateway does
// the SIP and media side first, then records the outcome through Decide,
// which decides from the call as folded: a call that ended meanwhile
// records no more of the agent's requests (its end is what the agent
// sees).
type Control struct {
	Action   Action
	Muted    bool          // ActionMute: muted, or unmuted
	Digits   string        // ActionDTMF
	Location string        // ActionRecord, ActionStopRecording: the recording's file
	Duration time.Duration // ActionStopRecording: how long it recorded
	// Failed is why the request could not be carried out; empty: it was.
	Failed string
	At     time.Time
}

func (Control) command() {}

func decideControl(s State, c Control) ([]proto.Message, error) {
	at := timestamppb.New(c.At)
	if c.Failed != "" {
		// A third-party request refused before it touched the call is
		// the agent's to see while the call exists; one on the live call
		// only while it is connected.
		if s.Status == None || (!c.Action.party() && s.Status != Connected) {
			return nil, nil
		}
		return []proto.Message{&mediav1.CallControlFailed{CallId: s.ID, InteractionId: s.Interaction, Action: string(c.Action),
			Reason: c.Failed, At: at}}, nil
	}
	if s.Status != Connected {
		return nil, nil
	}
	switch c.Action {
	case ActionHold, ActionRetrieve:
		return []proto.Message{&mediav1.CallHeld{CallId: s.ID, InteractionId: s.Interaction, Held: c.Action == ActionHold, At: at}}, nil
	case ActionDTMF:
		return []proto.Message{&mediav1.DtmfSent{CallId: s.ID, InteractionId: s.Interaction, Digits: c.Digits, At: at}}, nil
	case ActionMute:
		return []proto.Message{&mediav1.MuteChanged{CallId: s.ID, InteractionId: s.Interaction, Muted: c.Muted, At: at}}, nil
	case ActionRecord:
		return []proto.Message{&mediav1.RecordingStarted{CallId: s.ID, InteractionId: s.Interaction, Location: c.Location, At: at}}, nil
	case ActionStopRecording:
		return []proto.Message{&mediav1.RecordingStopped{CallId: s.ID, InteractionId: s.Interaction, Location: c.Location,
			Duration: durationpb.New(c.Duration), At: at}}, nil
	}
	return nil, fmt.Errorf("call: the %s done is recorded by the call's own steps, not as a control", c.Action)
}
