package interaction

import (
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
)

// toCall sets the cause on a CallStatusChanged.
func (c Cause) toCall(e *agentv1.CallStatusChanged) {
	e.DialOutcome, e.EndReason, e.TransferredTo, e.FailedAction, e.Detail = c.Outcome, c.End, c.TransferredTo, c.FailedAction, c.Detail
}

// toParty sets the cause on a PartyStatusChanged.
func (c Cause) toParty(e *agentv1.PartyStatusChanged) {
	e.Outcome, e.EndReason, e.FailedAction, e.Detail = c.Outcome, c.End, c.FailedAction, c.Detail
}

// Stores written before call and party statuses were enums hold them as
// the workspace's words (CallStatusChanged's and PartyStatusChanged's
// legacy_status), with the reason in words too (legacy_reason): these read
// either, so that such a store still folds. The words are the old events'
// codes here, decoded, never shown from this table.
var (
	legacyCallStatuses = map[string]agentv1.CallStatus{"Ready to Call": ReadyToCall, "Establishing": Establishing,
		"Connected": Connected, "On Hold": OnHold}
	// "": the party left.
	legacyPartyStatuses = map[string]agentv1.PartyStatus{"": PartyLeft, "Ringing": PartyRinging,
		"Consulting": PartyConsulting, "Conference": PartyConference, "Transferred": PartyTransferred}
)

func callStatusOf(e *agentv1.CallStatusChanged) agentv1.CallStatus {
	if e.GetStatus() != agentv1.CallStatus_CALL_STATUS_UNSPECIFIED {
		return e.GetStatus()
	}
	return legacyCallStatuses[e.GetLegacyStatus()]
}

func callCauseOf(e *agentv1.CallStatusChanged) Cause {
	if e.GetStatus() == agentv1.CallStatus_CALL_STATUS_UNSPECIFIED {
		return Cause{Legacy: e.GetLegacyReason()}
	}
	return Cause{Outcome: e.GetDialOutcome(), End: e.GetEndReason(), TransferredTo: e.GetTransferredTo(),
		FailedAction: e.GetFailedAction(), Detail: e.GetDetail()}
}

func partyStatusOf(e *agentv1.PartyStatusChanged) agentv1.PartyStatus {
	if e.GetStatus() != agentv1.PartyStatus_PARTY_STATUS_UNSPECIFIED {
		return e.GetStatus()
	}
	return legacyPartyStatuses[e.GetLegacyStatus()]
}

func partyCauseOf(e *agentv1.PartyStatusChanged) Cause {
	if e.GetStatus() == agentv1.PartyStatus_PARTY_STATUS_UNSPECIFIED {
		return Cause{Legacy: e.GetLegacyReason()}
	}
	return Cause{Outcome: e.GetOutcome(), End: e.GetEndReason(), FailedAction: e.GetFailedAction(), Detail: e.GetDetail()}
}
