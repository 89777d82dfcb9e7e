package timeline

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	dispositionv1 "github.com/ringback/ringback/proto/ringback/disposition/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

// Facts are the ids an event carries that tie it to a callback and a contact.
type Facts struct {
	CallbackID    string
	InteractionID string
	PhoneNumber   string
}

// FactsOf reads the callback_id, interaction_id and phone number of any
// event by field name, so an event added to a schema later is tied to its
// callback without a change here (every schema uses these names).
func FactsOf(e proto.Message) Facts {
	m := e.ProtoReflect()
	f := Facts{CallbackID: stringField(m, "callback_id"), InteractionID: stringField(m, "interaction_id"),
		PhoneNumber: stringField(m, "phone_number")}
	if r := RequestOf(e); f.PhoneNumber == "" && r != nil {
		f.PhoneNumber = r.GetPhoneNumber()
	}
	return f
}

func stringField(m protoreflect.Message, name protoreflect.Name) string {
	fd := m.Descriptor().Fields().ByName(name)
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.IsList() || fd.IsMap() {
		return ""
	}
	return m.Get(fd).String()
}

// RequestOf is the visitor's request an event carries along, if any.
func RequestOf(e proto.Message) *callbackv1.CallbackRequest {
	fd := e.ProtoReflect().Descriptor().Fields().ByName("request")
	if fd == nil || fd.Kind() != protoreflect.MessageKind || fd.IsList() || fd.IsMap() {
		return nil
	}
	if !e.ProtoReflect().Has(fd) {
		return nil
	}
	r, _ := e.ProtoReflect().Get(fd).Message().Interface().(*callbackv1.CallbackRequest)
	return r
}

// effectOf says how a fact moves the callback's status. Intake's
// CallbackStateChanged is left out on purpose: it restates other services'
// facts later than they occurred, so folding it would move the status back.
func effectOf(e proto.Message) (effect, Status, string) {
	switch e := e.(type) {
	case *callbackv1.CallbackRequested:
		return effectTo, Requested, ""
	case *callbackv1.CallbackScheduled, *callbackv1.CallbackRescheduled:
		return effectTo, Scheduled, ""
	case *callbackv1.CallbackDue, *routingv1.InteractionQueued:
		return effectTo, Queued, ""
	case *callbackv1.CallbackCancelled:
		return effectTo, Cancelled, ""
	case *routingv1.InteractionOffered, *agentv1.InteractionPresented:
		return effectTo, Offered, ""
	case *routingv1.OfferRejected, *routingv1.OfferTimedOut, *agentv1.InteractionWithdrawn:
		return effectBackToQueue, 0, ""
	case *routingv1.OfferAccepted, *agentv1.InteractionAccepted,
		*agentv1.DialRequested, *agentv1.HangupRequested, *agentv1.CallStatusChanged,
		*mediav1.DialStarted, *mediav1.AgentRinging, *mediav1.AgentAnswered, *mediav1.ContactRinging,
		*mediav1.CallConnected, *mediav1.DialFailed, *mediav1.CallEnded:
		return effectTo, InProgress, ""
	case *agentv1.InteractionDone:
		return effectTo, Completed, e.Disposition
	case *dispositionv1.DispositionSet:
		return effectDisposition, 0, e.Code
	case *dispositionv1.DispositionClosed:
		if e.Code != "" {
			return effectDisposition, 0, e.Code
		}
	case *agentv1.DispositionNoted:
		return effectDisposition, 0, e.Code
	}
	return effectNone, 0, ""
}
