package mediagateway

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/dialplan"
	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/telemetry"
	"github.com/ringback/ringback/proto/catalog"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	"github.com/ringback/ringback/services/media-gateway/call"
	"github.com/ringback/ringback/services/media-gateway/telephony"
)

// Topics are the topics the gateway takes commands from.
var Topics = []string{envelope.TopicOf("agent")}

// Only are the agent topic's events the gateway acts on: the dial and the
// call-control requests (callOf); agents' states, accepts, drafts and
// Done, several per callback, are acknowledged undecoded
// (TestOnlyLeavesOutNothingHandled).
var Only = map[string][]string{envelope.TopicOf("agent"): {catalog.TypeName(&agentv1.DialRequested{}), catalog.TypeName(&agentv1.HoldRequested{}), catalog.TypeName(&agentv1.DtmfRequested{}), catalog.TypeName(&agentv1.MuteRequested{}), catalog.TypeName(&agentv1.RecordingRequested{}), catalog.TypeName(&agentv1.TransferRequested{}), catalog.TypeName(&agentv1.ConsultRequested{}), catalog.TypeName(&agentv1.ConsultEndRequested{}), catalog.TypeName(&agentv1.HangupRequested{})}}

func (s *Service) handle(ctx context.Context, e envelope.Envelope) error {
	if ev, ok := e.Event.(*agentv1.DialRequested); ok {
		return s.dial(ctx, e, ev)
	}
	return s.command(ctx, e, false)
}

// command carries out a call-control request on a call this instance owns,
// and forwards one for a call another instance owns (forward.go); a
// forwarded request is never forwarded again.
func (s *Service) command(ctx context.Context, e envelope.Envelope, forwarded bool) error {
	id := callOf(e.Event)
	if id == "" {
		return nil
	}
	if !s.calls.isLive(id) {
		switch where, err := s.ownerOf(ctx, id); {
		case err != nil:
			return err
		case where == elsewhere && !forwarded:
			return s.forward(ctx, e, id)
		case where == elsewhere, where == lostHere:
			// Ours from an earlier run (the takeover hangs it up with
			// BYEs), or forwarded to us but no longer ours.
			return nil
		}
	}
	switch ev := e.Event.(type) {
	case *agentv1.HoldRequested, *agentv1.DtmfRequested, *agentv1.MuteRequested, *agentv1.RecordingRequested:
		return s.control(ctx, e)
	case *agentv1.TransferRequested:
		return s.ringParty(ctx, e, ev.CallId, ev.InteractionId, ev.Party, mediav1.PartyPurpose_PARTY_PURPOSE_TRANSFER)
	case *agentv1.ConsultRequested:
		return s.ringParty(ctx, e, ev.CallId, ev.InteractionId, ev.Party, mediav1.PartyPurpose_PARTY_PURPOSE_CONSULT)
	case *agentv1.ConsultEndRequested:
		return s.endConsult(ctx, e, ev)
	case *agentv1.HangupRequested:
		here, err := s.calls.end(ctx, ev.CallId)
		if err != nil {
			s.deps.Log.WarnContext(ctx, "hangup", "call", ev.CallId, "err", err)
		}
		if here {
			return nil
		}
		// Ours, but no longer placing or holding it: close its record so
		// the agent is not left in Connected.
		_, err = s.execute(ctx, ev.CallId, eventstore.Cause{ID: e.ID, Correlation: e.Correlation},
			call.Report{Step: call.End, End: mediav1.EndReason_END_REASON_HANGUP_REQUESTED, Reason: telephony.ReasonHangupRequested,
				At: s.deps.Clock.Now()})
		return err
	}
	return nil
}

// callOf is the call a control request is about; "" for other events.
func callOf(m proto.Message) string {
	switch ev := m.(type) {
	case *agentv1.HoldRequested:
		return ev.CallId
	case *agentv1.DtmfRequested:
		return ev.CallId
	case *agentv1.MuteRequested:
		return ev.CallId
	case *agentv1.RecordingRequested:
		return ev.CallId
	case *agentv1.TransferRequested:
		return ev.CallId
	case *agentv1.ConsultRequested:
		return ev.CallId
	case *agentv1.ConsultEndRequested:
		return ev.CallId
	case *agentv1.HangupRequested:
		return ev.CallId
	}
	return ""
}

// dial records the attempt and places it. The record comes first: a
// redelivered command finds it and places nothing, so a contact is never
// dialled twice for one attempt.
//
// The record is also what makes this instance the call's owner: whichever
// instance of the consumer group gets the command appends DialStarted
// (stream "no stream" expected, under its lease's fence) and dials only if
// that append is what it stored now. A draining instance hands the command
// back to the group instead.
func (s *Service) dial(ctx context.Context, e envelope.Envelope, ev *agentv1.DialRequested) error {
	if s.draining.Load() {
		return fmt.Errorf("dial %s: %w", ev.CallId, errDraining)
	}
	contact := s.deps.Dialer.ContactAddress(ev.PhoneNumber)
	out, err := s.execute(ctx, ev.CallId, eventstore.Cause{ID: e.ID, Correlation: e.Correlation}, call.Start{
		ID: ev.CallId, Interaction: ev.InteractionId, Agent: ev.AgentId, AgentURI: ev.AgentPhoneUri,
		ContactURI: contact, Instance: s.instance, Holder: s.holder, Generation: s.currentLease().Generation, At: s.deps.Clock.Now()})
	if err != nil || len(out.Events) == 0 {
		return err
	}
	s.setups.Inc()
	s.deps.Log.InfoContext(ctx, "dialling", "call", ev.CallId, "interaction", ev.InteractionId,
		"contact", telemetry.MaskPhone(ev.PhoneNumber))
	// The call outlives this handler but belongs to its trace.
	dctx, cancel := context.WithCancel(trace.ContextWithSpanContext(s.runCtx, trace.SpanContextFromContext(ctx)))
	s.calls.hold(ev.CallId, &live{cancel: cancel})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		defer s.calls.release(ev.CallId)
		s.place(dctx, ev, e.Correlation)
	}()
	return nil
}

var outcomes = map[telephony.Outcome]mediav1.Outcome{
	telephony.OutcomeBusy:               mediav1.Outcome_OUTCOME_BUSY,
	telephony.OutcomeNoAnswer:           mediav1.Outcome_OUTCOME_NO_ANSWER,
	telephony.OutcomeInvalidNumber:      mediav1.Outcome_OUTCOME_INVALID_NUMBER,
	telephony.OutcomeFailed:             mediav1.Outcome_OUTCOME_FAILED,
	telephony.OutcomeAgentUnavailable:   mediav1.Outcome_OUTCOME_AGENT_UNAVAILABLE,
	telephony.OutcomeCancelled:          mediav1.Outcome_OUTCOME_CANCELLED,
	telephony.OutcomeAgentNotRegistered: mediav1.Outcome_OUTCOME_AGENT_NOT_REGISTERED,
}

// ends are the SIP adapter's reasons for an end as the events carry them.
var ends = map[telephony.EndReason]mediav1.EndReason{
	telephony.EndAgentHungUp:     mediav1.EndReason_END_REASON_AGENT_HUNG_UP,
	telephony.EndContactHungUp:   mediav1.EndReason_END_REASON_CONTACT_HUNG_UP,
	telephony.EndHangupRequested: mediav1.EndReason_END_REASON_HANGUP_REQUESTED,
	telephony.EndGatewayStopped:  mediav1.EndReason_END_REASON_GATEWAY_STOPPED,
	telephony.EndPartyHungUp:     mediav1.EndReason_END_REASON_PARTY_HUNG_UP,
	telephony.EndPartyDropped:    mediav1.EndReason_END_REASON_PARTY_DROPPED,
	telephony.EndCallEnded:       mediav1.EndReason_END_REASON_CALL_ENDED,
	telephony.EndSessionExpired:  mediav1.EndReason_END_REASON_SESSION_EXPIRED,
}

var steps = map[telephony.ProgressKind]call.Step{
	telephony.AgentRinging: call.AgentRinging, telephony.AgentAnswered: call.AgentAnswered, telephony.ContactRinging: call.ContactRinging,
	telephony.Connected: call.Connect, telephony.Failed: call.Fail, telephony.Ended: call.End,
	telephony.PartyRinging: call.PartyRinging, telephony.PartyAlerting: call.PartyAlert, telephony.PartyAnswered: call.PartyAnswer, telephony.PartyConnected: call.PartyConnected, telephony.Conferenced: call.Conference,
	telephony.Transferred: call.Transfer, telephony.PartyLeft: call.PartyLeave,
}

// errTakenOver stops a dial whose call another instance took over.
var errTakenOver = errors.New("call taken over by another gateway")

// dialling says whether a report of kind k comes while the call is being
// placed, before Dial returns it.
func dialling(k telephony.ProgressKind) bool {
	switch k {
	case telephony.AgentRinging, telephony.AgentAnswered, telephony.ContactRinging, telephony.Connected:
		return true
	}
	return false
}

// place runs one call from dial to hang-up, recording each step.
func (s *Service) place(ctx context.Context, ev *agentv1.DialRequested, correlation string) {
	started := s.deps.Clock.Now()
	setup := func(outcome string) {
		s.outcome.WithLabelValues(outcome).Inc()
		s.setupTime.WithLabelValues(outcome).Observe(s.deps.Clock.Now().Sub(started).Seconds())
	}
	n := 0
	record := func(r call.Report) (call.State, error) {
		n++
		cause := eventstore.Cause{ID: fmt.Sprintf("call:%s:%d", ev.CallId, n), Correlation: correlation}
		// Not on the call's context: a hang-up must not stop us writing it.
		out, err := s.execute(s.writeCtx(), ev.CallId, cause, r)
		if err != nil && !errors.Is(err, errCrashed) {
			s.deps.Log.Error("record call step", "call", ev.CallId, "err", err)
		}
		return out.State, err
	}
	// The dial stops when the call turns out to be another instance's: this
	// one's lease ran out under it (a stall, a partition) and a survivor
	// took its calls over, writing them lost. The survivor hangs up only
	// the legs on record, so a leg answered now, with no record of its
	// dialog, would stay up with no owner once this process is gone.
	dctx, stopDial := context.WithCancelCause(ctx)
	defer stopDial(nil)
	report := func(p telephony.Progress) {
		r := call.Report{Step: steps[p.Kind], Outcome: outcomes[p.Outcome], End: ends[p.End], Code: p.SIPCode, Reason: p.Reason, At: s.deps.Clock.Now(),
			Legs: legsOf(p.Legs)}
		if p.Kind.AboutParty() {
			r.Party = s.calls.party(ev.CallId)
			if p.Kind == telephony.PartyLeft {
				s.calls.clearParty(ev.CallId)
			}
		}
		if p.Kind == telephony.Failed {
			setup(p.Outcome.String())
		}
		if p.Kind == telephony.AgentRinging {
			r.Browser, r.BrowserURL = s.browserRing(ev.AgentPhoneUri)
		}
		st, err := record(r)
		if dialling(p.Kind) && (errors.Is(err, eventstore.ErrFenced) || (err == nil && st.Status.Final())) {
			s.deps.Log.Warn("call taken over by another gateway while dialling: stopped, what answered is hung up", "call", ev.CallId)
			stopDial(errTakenOver)
		}
	}
	// The call's span continues the trace of the agent's click (carried by
	// the DialRequested event) across both SIP legs.
	ctx, span := otel.Tracer("ringback/media-gateway").Start(ctx, "sip call",
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attribute.String("ringback.call_id", ev.CallId),
			attribute.String("ringback.interaction_id", ev.InteractionId)))
	defer span.End()
	if err := s.plan.Check(ev.PhoneNumber); err != nil {
		// Refused before the Dialer: nothing leaves for the trunk.
		s.deps.Log.InfoContext(ctx, "dial refused", "call", ev.CallId, "reason", dialplan.Reason(err))
		setup(telephony.OutcomeInvalidNumber.String())
		_, _ = record(call.Report{Step: call.Fail, Outcome: mediav1.Outcome_OUTCOME_INVALID_NUMBER, Reason: err.Error(), At: s.deps.Clock.Now()})
		return
	}
	dial := s.deps.Dialer.Dial
	if s.cfg.contactFirst(ev.Service) {
		dial = s.deps.Dialer.DialContactFirst
	}
	c, err := dial(dctx, ev.CallId, ev.AgentPhoneUri, ev.PhoneNumber, report)
	if err != nil {
		span.RecordError(err)
	}
	if err != nil {
		var oe *telephony.OutcomeError
		if !errors.As(err, &oe) {
			// Cancelled (End Call while ringing) or stopped: make sure the
			// attempt is closed; Decide ignores it if a report already did.
			_, _ = record(call.Report{Step: call.End, End: mediav1.EndReason_END_REASON_CANCELLED, Reason: "call cancelled", At: s.deps.Clock.Now()})
		}
		return
	}
	if errors.Is(context.Cause(dctx), errTakenOver) {
		// Connected as it was taken over: the survivor does not know it.
		_ = c.HangupBecause(context.WithoutCancel(ctx), endDrained)
		<-c.Ended()
		return
	}
	setup("connected")
	c.SetAgentMayLeave(s.cfg.ServiceSet.Of(ev.Service).Conference.AgentMayLeave)
	if s.calls.connected(ev.CallId, c) {
		_ = c.Hangup(s.runCtx)
	}
	select {
	case <-c.Ended():
	case <-ctx.Done():
		// The drain is over (or the lease lost): the call is hung up, not
		// left to a process that is going away.
		_ = c.HangupBecause(context.Background(), endDrained)
		<-c.Ended()
	}
}
