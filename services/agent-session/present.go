package agentsession

import (
	"time"

	"github.com/ringback/ringback/libs/callwindow"
	"github.com/ringback/ringback/libs/phone"
	"github.com/ringback/ringback/services/agent-session/agent"
	"github.com/ringback/ringback/services/agent-session/interaction"
	"github.com/ringback/ringback/services/agent-session/words"
)

type channelView struct {
	State  string    `json:"state"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
	// Pending is the state a supervisor set during a call, waiting for it.
	Pending *pendingView `json:"pending,omitempty"`
}

// pendingView is a state waiting for the agent's call to end (issue 14).
type pendingView struct {
	State  string    `json:"state"`
	Reason string    `json:"reason,omitempty"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
}

// partyCallView is a colleague's call ringing, or up on, the agent's
// browser, who is its third party (issue 15): the desktop rings and answers
// it by posting its WebRTC offer to url (empty: its own origin).
type partyCallView struct {
	CallID  string `json:"call_id"`
	URL     string `json:"url"`
	From    string `json:"from"`    // the agent who consults or transfers
	Purpose string `json:"purpose"` // consult, transfer
	Status  string `json:"status"`  // Ringing, Consulting, Conference
}

func (s *Service) presentPartyCall(id string) *partyCallView {
	st, ok := s.view.partyCall(id)
	if !ok {
		return nil
	}
	_, ring, _ := st.BrowserParty()
	return &partyCallView{CallID: ring.CallID, URL: ring.URL, From: st.Agent, Purpose: string(st.Third.Purpose),
		Status: words.PartyStatus(st.Third.Status)}
}

func presentPending(p agent.Pending) *pendingView {
	if !p.Set() {
		return nil
	}
	return &pendingView{State: words.AgentState(p.State), Reason: p.Reason, By: p.By, At: p.At}
}

type agentView struct {
	ID       string                 `json:"id"`
	LoggedIn bool                   `json:"logged_in"`
	PhoneURI string                 `json:"phone_uri,omitempty"`
	Channels map[string]channelView `json:"channels"`
	// PartyCall: a colleague's call rings, or is up on, this agent's
	// browser (they consult or transfer to them).
	PartyCall    *partyCallView `json:"party_call,omitempty"`
	Interactions []string       `json:"interactions"`
}

func (s *Service) presentAgent(id string, a agent.State) agentView {
	v := agentView{ID: id, LoggedIn: a.LoggedIn, PhoneURI: a.PhoneURI, Channels: map[string]channelView{}, Interactions: []string{}}
	for _, ch := range agent.Channels {
		c, ok := a.Channels[ch]
		state := words.AgentState(c.State)
		if !ok {
			state = words.LoggedOut
		}
		v.Channels[words.Channel(ch)] = channelView{State: state, Reason: words.StateReason(c), Since: c.Since, Pending: presentPending(c.Pending)}
	}
	for _, it := range s.view.openOf(id) {
		v.Interactions = append(v.Interactions, it.ID)
	}
	v.PartyCall = s.presentPartyCall(id)
	return v
}

// callbackInfo is the Callback Information view.
type callbackInfo struct {
	Subject      string     `json:"subject"`
	PhoneNumber  string     `json:"phone_number"`
	ContactName  string     `json:"contact_name,omitempty"`
	Service      string     `json:"service"`
	ScheduledFor *time.Time `json:"scheduled_for,omitempty"`
	RequestedAt  time.Time  `json:"requested_at"`
}

type interactionView struct {
	ID         string            `json:"id"`
	CallbackID string            `json:"callback_id"`
	AgentID    string            `json:"agent_id"`
	Phase      string            `json:"phase"`            // offered, accepting, accepted, withdrawn, done
	Status     string            `json:"status,omitempty"` // the call status once accepted: Ready to Call, Establishing, Connected
	Reason     string            `json:"reason,omitempty"`
	CaseData   map[string]string `json:"case_data"`
	Callback   callbackInfo      `json:"callback"`
	OfferID    string            `json:"offer_id,omitempty"`
	ExpiresAt  *time.Time        `json:"expires_at,omitempty"`
	AutoAnswer *time.Time        `json:"auto_answer_at,omitempty"` // the preview counts down to it
	CanReject  bool              `json:"can_reject"`
	QueuedAt   time.Time         `json:"queued_at"`
	CallID     string            `json:"call_id,omitempty"`
	// Attempts are the calls made to the contact over every interaction of
	// the callback (retries and reschedules count), this one's included.
	Attempts int `json:"attempts"`
	// ContactZones are the contact's IANA zones (the web form's, else the
	// number's) and CallingWindow the service's window in them
	// ("08:00–21:00"): the desktop shows the contact's local time and
	// whether Call this contact is allowed now.
	ContactZones  []string   `json:"contact_zones,omitempty"`
	CallingWindow string     `json:"calling_window,omitempty"`
	Disposition   string     `json:"disposition,omitempty"`
	Rescheduled   *time.Time `json:"rescheduled_for,omitempty"`
	Muted         bool       `json:"muted"`
	Recording     bool       `json:"recording"`
	// The third party: asked for (party_purpose set, party_status empty),
	// then Ringing, Consulting, Conference or Transferred. Always present,
	// empty with no party, so that a client updating its copy in place sees
	// the party leave.
	PartyStatus  string    `json:"party_status"`
	Party        string    `json:"party"` // the agent id, or the number masked
	PartyAgentID string    `json:"party_agent_id"`
	PartyPurpose string    `json:"party_purpose"` // consult, transfer
	PartyReason  string    `json:"party_reason"`  // why the party last changed, kept after it left
	UpdatedAt    time.Time `json:"updated_at"`
	// Draft is what the agent typed and did not save by hand (issue 15):
	// the desktop fills the note and the case form from it after a reload.
	Draft *draftView `json:"draft,omitempty"`

	// BrowserRing: the call rings the agent's browser, their phone; the
	// desktop answers it (phone.js). Absent otherwise.
	BrowserRing *browserRingView `json:"browser_ring,omitempty"`
	// BrowserCall: the call is up on the agent's browser; a desktop
	// reloaded mid-call posts a new offer there to take its audio back.
	BrowserCall *browserRingView `json:"browser_call,omitempty"`
	// TransferredFrom is the agent who transferred the interaction to
	// agent_id with the call (issue 15); the desktop of that agent, which
	// gets this view once more, closes its window.
	TransferredFrom string `json:"transferred_from,omitempty"`
	// CallHandedOver: the call in progress came with the transfer; the
	// desktop offers no consultation or transfer on it.
	CallHandedOver bool `json:"call_handed_over,omitempty"`
	// CallbackCancelled: the callback was cancelled while this interaction
	// was open (a supervisor ended it, or the visitor cancelled as the
	// agent took it), for CancelReason; the contact is not to be called,
	// and the desktop says so and offers Done only.
	CallbackCancelled bool   `json:"callback_cancelled,omitempty"`
	CancelReason      string `json:"cancel_reason,omitempty"`
}

type draftView struct {
	Note        string            `json:"note"`
	CaseEditing bool              `json:"case_editing"`
	CaseData    map[string]string `json:"case_data,omitempty"`
}

var phases = map[interaction.Phase]string{interaction.Offered: "offered", interaction.Accepting: "accepting",
	interaction.Accepted: "accepted", interaction.Withdrawn: "withdrawn", interaction.Done: "done"}

// present is presentInteraction with what the service's configuration adds.
func (s *Service) present(st interaction.State) interactionView {
	v := s.presentStored(st)
	if why, ok := s.view.cancelledWhy(st.ID, st.CallbackID); ok {
		v.CallbackCancelled, v.CancelReason = true, why
	}
	return v
}

// presentStored is the interaction as its own stream says: without what
// the view learnt from other streams since (the callback cancelled), for
// the interaction as it was (time travel).
func (s *Service) presentStored(st interaction.State) interactionView {
	v := presentInteraction(st)
	if st.Request == nil {
		return v
	}
	w := s.windows.Of(st.Request.GetService())
	if !w.AlwaysOpen() {
		v.CallingWindow = w.String()
	}
	v.ContactZones = s.view.contactZones(st.ID, st.Request.GetPhoneNumber(), st.Request.GetTimezone())
	return v
}

// zoneNames are the names of a contact's zones (callwindow.Zones).
func zoneNames(number, tz string) []string {
	var out []string
	for _, z := range callwindow.Zones(number, tz, time.UTC) {
		out = append(out, z.String())
	}
	return out
}

func presentInteraction(st interaction.State) interactionView {
	r := st.Request
	v := interactionView{ID: st.ID, CallbackID: st.CallbackID, AgentID: st.Agent, Phase: phases[st.Phase],
		Status: words.CallStatus(st.CallStatus), Reason: words.CallReason(st.Cause), CaseData: st.CaseData(), OfferID: st.OfferID, QueuedAt: st.QueuedAt,
		CallID: st.CallID, Attempts: st.TotalAttempts(), Disposition: st.Disposition, UpdatedAt: st.Updated,
		Muted: st.Muted, Recording: st.Recording,
		Callback: callbackInfo{Subject: r.GetSubject(), PhoneNumber: r.GetPhoneNumber(), ContactName: r.GetContactName(),
			Service: r.GetService(), RequestedAt: r.GetRequestedAt().AsTime()}}
	if v.CaseData == nil {
		v.CaseData = map[string]string{}
	}
	v.BrowserRing, v.BrowserCall = presentRing(st), presentCall(st)
	if !st.Scheduled.IsZero() && st.Scheduled.Unix() > 0 {
		t := st.Scheduled
		v.Callback.ScheduledFor = &t
	}
	v.CanReject = st.CanReject
	if t := st.Third; t.Asked() {
		v.PartyStatus, v.PartyAgentID, v.PartyPurpose = words.PartyStatus(t.Status), t.Agent, string(t.Purpose)
		switch {
		case t.Name != "":
			v.Party = t.Name
		case t.Agent != "":
			v.Party = t.Agent
		default:
			v.Party = phone.Mask(t.Number) // as the gateway shows it once it rings
		}
	}
	v.TransferredFrom, v.CallHandedOver = st.TransferredFrom(), st.CallHandedOver()
	if d := st.Draft; d.Note != "" || d.CaseEditing {
		v.Draft = &draftView{Note: d.Note, CaseEditing: d.CaseEditing, CaseData: d.CaseData}
	}
	v.PartyReason = words.PartyReason(st.PartyCause)
	if !st.RescheduledFor.IsZero() {
		t := st.RescheduledFor
		v.Rescheduled = &t
	}
	if st.Phase == interaction.Offered || st.Phase == interaction.Accepting {
		t := st.Expires
		v.ExpiresAt = &t
		if !st.AutoAnswer.IsZero() {
			a := st.AutoAnswer
			v.AutoAnswer = &a
		}
	}
	return v
}
