package agentsession

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/consistency"
	"github.com/ringback/ringback/libs/dialplan"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/libs/streams"
	"github.com/ringback/ringback/libs/timetravel"
	"github.com/ringback/ringback/proto/catalog"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/agent-session/agent"
	"github.com/ringback/ringback/services/agent-session/desktop"
	"github.com/ringback/ringback/services/agent-session/interaction"
	"github.com/ringback/ringback/services/agent-session/words"
)

// routeTable is every route of agent-session and who may call it (issue
// 16): an agent acts on their own session (403 for another agent's id), and
// on the interactions offered to or accepted by them; a supervisor reads
// the interactions of their services but drives no one else's call; for
// anyone else an interaction does not exist (404).
func (s *Service) routeTable() []agentauth.Route {
	const agent, read = agentauth.RoleAgent, agentauth.RoleAgent | agentauth.RoleSupervisor
	const supervise = agentauth.RoleSupervisor
	var signIn []agentauth.Route
	if s.sso != nil {
		signIn = s.sso.Routes() // the desktop's "Sign in with …"
	}
	return append(signIn, []agentauth.Route{
		{Pattern: "POST /v1/agents/{agent}/session", Roles: agent, Entitle: s.own, Handle: s.login},
		{Pattern: "DELETE /v1/agents/{agent}/session", Roles: agent, Entitle: s.own, Handle: s.logout},
		{Pattern: "PUT /v1/agents/{agent}/state", Roles: agent, Entitle: s.own, Handle: s.setState},
		{Pattern: "GET /v1/agents/{agent}", Roles: agent, Entitle: s.own, Handle: s.getAgent},
		{Pattern: "GET /v1/agents/{agent}/events", Roles: agent, Entitle: s.own, Handle: s.events},
		// The desktop is static files: the token it is given guards the API.
		{Pattern: "GET /agent/", Roles: agentauth.Everyone, Handle: func(w http.ResponseWriter, r *http.Request) error {
			desktop.Handler().ServeHTTP(w, r)
			return nil
		}},
		// The supervisor's page and its board (issue 14).
		{Pattern: "GET " + supervisorPage, Roles: agentauth.Everyone, Handle: func(w http.ResponseWriter, r *http.Request) error {
			desktop.Supervisor().ServeHTTP(w, r)
			return nil
		}},
		{Pattern: "GET /v1/supervisor/summary", Roles: supervise, Handle: s.supervisorSummary},
		{Pattern: "GET /v1/supervisor/events", Roles: supervise, Handle: s.supervisorEvents},
		{Pattern: "POST /v1/supervisor/agents/{agent}/not-ready", Roles: supervise, Handle: s.forceNotReady},
		{Pattern: "POST /v1/supervisor/agents/{agent}/logout", Roles: supervise, Handle: s.forceLogout},
		// The Standard Response Library and the Team Communicator (issue 15).
		{Pattern: "GET /v1/responses", Roles: read, Handle: s.responses},
		{Pattern: "GET /v1/directory", Roles: read, Handle: s.directory},
		{Pattern: "GET /v1/interactions/{id}", Roles: read, Entitle: s.entitled, Handle: s.getInteraction},
		{Pattern: "POST /v1/interactions/{id}/accept", Roles: agent, Entitle: s.entitled, Handle: s.accept},
		{Pattern: "POST /v1/interactions/{id}/reject", Roles: agent, Entitle: s.entitled, Handle: s.reject},
		{Pattern: "POST /v1/interactions/{id}/call", Roles: agent, Entitle: s.entitled, Handle: s.call},
		{Pattern: "POST /v1/interactions/{id}/end-call", Roles: agent, Entitle: s.entitled, Handle: s.endCall},
		{Pattern: "POST /v1/interactions/{id}/done", Roles: agent, Entitle: s.entitled, Handle: s.done},
		{Pattern: "POST /v1/interactions/{id}/reschedule", Roles: agent, Entitle: s.entitled, Handle: s.reschedule},
		{Pattern: "PUT /v1/interactions/{id}/draft", Roles: agent, Entitle: s.entitled, Handle: s.saveDraft},
		{Pattern: "POST /v1/interactions/{id}/hold", Roles: agent, Entitle: s.entitled, Handle: s.hold(true)},
		{Pattern: "POST /v1/interactions/{id}/retrieve", Roles: agent, Entitle: s.entitled, Handle: s.hold(false)},
		{Pattern: "POST /v1/interactions/{id}/dtmf", Roles: agent, Entitle: s.entitled, Handle: s.dtmf},
		{Pattern: "POST /v1/interactions/{id}/mute", Roles: agent, Entitle: s.entitled, Handle: s.mute(true)},
		{Pattern: "POST /v1/interactions/{id}/unmute", Roles: agent, Entitle: s.entitled, Handle: s.mute(false)},
		{Pattern: "POST /v1/interactions/{id}/record", Roles: agent, Entitle: s.entitled, Handle: s.record(true)},
		{Pattern: "POST /v1/interactions/{id}/stop-recording", Roles: agent, Entitle: s.entitled, Handle: s.record(false)},
		{Pattern: "POST /v1/interactions/{id}/transfer", Roles: agent, Entitle: s.entitled, Handle: s.askParty(interaction.PurposeTransfer)},
		{Pattern: "POST /v1/interactions/{id}/consult", Roles: agent, Entitle: s.entitled, Handle: s.askParty(interaction.PurposeConsult)},
		{Pattern: "POST /v1/interactions/{id}/consult/transfer", Roles: agent, Entitle: s.entitled, Handle: s.endConsult(agentv1.ConsultCompletion_CONSULT_COMPLETION_TRANSFER)},
		{Pattern: "POST /v1/interactions/{id}/consult/conference", Roles: agent, Entitle: s.entitled, Handle: s.endConsult(agentv1.ConsultCompletion_CONSULT_COMPLETION_CONFERENCE)},
		{Pattern: "POST /v1/interactions/{id}/consult/cancel", Roles: agent, Entitle: s.entitled, Handle: s.endConsult(agentv1.ConsultCompletion_CONSULT_COMPLETION_CANCEL)},
	}...)
}

// Routes is the service's route table, for the binary's list of every
// route and its roles (GET /admin/routes) and the route × role test.
func (s *Service) Routes() []agentauth.Route { return s.routeTable() }

func (s *Service) routes(mux *http.ServeMux) {
	// A client's consistency token (issue 13) is honoured before anything,
	// the entitlement's read included.
	agentauth.Register(mux, s.deps.Log, s.agents, consistency.Routes(s.proj, consistency.DefaultWait, scoped(s.routeTable())))
}

// entitled: the agent the interaction is offered to or accepted by, or a
// supervisor of its service.
func (s *Service) entitled(r *http.Request, p agentauth.Principal) error {
	id := r.PathValue("id")
	st, err := s.awaitInteraction(r.Context(), id)
	if err != nil {
		return err
	}
	if !p.IsAgent(st.Agent) && !p.Covers(st.Request.GetService()) {
		return notFound(id)
	}
	return nil
}

// own: an agent acts only on their own session; the id in the path is
// checked first, so a malformed one is still a 400 naming the field.
func (s *Service) own(r *http.Request, p agentauth.Principal) error {
	id, err := pathAgent(r)
	if err != nil {
		return err
	}
	if !p.IsAgent(id) {
		refused := httpx.Forbidden("an agent acts only as themselves")
		refused.Field = "agent"
		return refused
	}
	return nil
}

func notFound(id string) error { return httpx.NotFound("no interaction " + id) }

var sipURI = regexp.MustCompile(`^sips?:[^\s<>"]{3,250}$`)

func pathAgent(r *http.Request) (string, error) {
	id := r.PathValue("agent")
	if !agentauth.ValidID(id) {
		return "", httpx.BadField("agent", "must be 1 to 64 letters, digits, dots, dashes or underscores, not starting with "+agentauth.ReservedIDPrefix)
	}
	return id, nil
}

// problem maps the domain's refusals to HTTP; anything else stays a 500.
func problem(err error) error {
	var (
		partyErr    *interaction.PartyError
		draftErr    *interaction.DraftError
		unavailable *agent.UnavailableError
	)
	switch {
	case errors.As(err, &draftErr):
		return httpx.BadField(draftErr.Field, draftErr.Reason)
	case errors.Is(err, interaction.ErrNotFound):
		return httpx.NotFound(err.Error())
	case errors.Is(err, interaction.ErrNotYours):
		return httpx.Forbidden(err.Error())
	case errors.Is(err, interaction.ErrRescheduleTime):
		return httpx.BadField("time", err.Error())
	case errors.Is(err, interaction.ErrDigits):
		return httpx.BadField("digits", err.Error())
	case errors.Is(err, agent.ErrUnknownState):
		return httpx.BadField("state", err.Error())
	case errors.Is(err, agent.ErrChannel):
		return httpx.BadField("channel", err.Error())
	case errors.As(err, &partyErr):
		return httpx.BadField(partyErr.Field, partyErr.Reason)
	case errors.Is(err, interaction.ErrSelf):
		return httpx.BadField("agent", err.Error())
	case errors.As(err, &unavailable) && unavailable.State != agentv1.AgentState_AGENT_STATE_UNSPECIFIED:
		return httpx.Conflict(fmt.Sprintf("%v: %s is %s on web callback", agent.ErrUnavailable, unavailable.Agent,
			words.AgentStateWords(unavailable.State)))
	case errors.Is(err, interaction.ErrOutsideWindow):
		return httpx.Conflict(err.Error())
	case isDomain(err):
		return httpx.Conflict(err.Error())
	}
	return err
}

func isDomain(err error) bool {
	for _, d := range []error{interaction.ErrNotFound, interaction.ErrNotYours, interaction.ErrNotOffered,
		interaction.ErrExpired, interaction.ErrNotAccepted, interaction.ErrInCall, interaction.ErrNoCall,
		interaction.ErrNeedDisposition, interaction.ErrNoPhone, interaction.ErrCannotReject, interaction.ErrNotConnected,
		interaction.ErrNotOnHold, interaction.ErrDigits, interaction.ErrRescheduleTime, agent.ErrNotLoggedIn, agent.ErrUnknownState,
		agent.ErrChannel, agent.ErrBusy, agent.ErrUnavailable, interaction.ErrPartyOnCall, interaction.ErrNoParty,
		interaction.ErrNotConsulting, interaction.ErrSelf, interaction.ErrCompletion, interaction.ErrTransferred, interaction.ErrOutsideWindow,
		interaction.ErrAttemptsUsed, interaction.ErrHandedOver, interaction.ErrContactCancelled} {
		if errors.Is(err, d) {
			return true
		}
	}
	var partyErr *interaction.PartyError
	return errors.As(err, &partyErr)
}

func (s *Service) login(w http.ResponseWriter, r *http.Request) error {
	id, err := s.self(w, r)
	if err != nil {
		return err
	}
	var body struct {
		PhoneURI string `json:"phone_uri"`
	}
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	browser, err := browserPhone(id, body.PhoneURI)
	if err != nil {
		return err
	}
	if body.PhoneURI != "" && !browser && !sipURI.MatchString(body.PhoneURI) {
		return httpx.BadField("phone_uri", "must be a SIP URI such as sip:agent1@10.0.0.7:5060, or webrtc: for this browser")
	}
	if browser {
		body.PhoneURI = BrowserPhone + id
	} else if body.PhoneURI != "" {
		// Not a number the trunk would dial at a premium, not an outside
		// host, no headers for our INVITE (issue 16).
		if err := dialplan.PhoneURI(body.PhoneURI, s.phoneHosts); err != nil {
			return httpx.BadField("phone_uri", err.Error())
		}
	}
	if body.PhoneURI == "" {
		// A desktop reopened without a phone keeps the phone of the session.
		cur, err := s.agentNow(r.Context(), id)
		if err != nil {
			return err
		}
		if cur.LoggedIn {
			body.PhoneURI = cur.PhoneURI
		}
	}
	out, err := s.onAgent(r.Context(), id, eventstore.Cause{ID: uuid.NewString()},
		agent.Login{Agent: id, PhoneURI: body.PhoneURI, Skills: s.agents.Get(id).SkillLevels(), At: s.deps.Clock.Now()})
	if err != nil {
		return problem(err)
	}
	consistency.Set(w, out.Position)
	httpx.WriteJSON(w, http.StatusOK, s.presentAgent(id, out.State))
	return nil
}

func (s *Service) logout(w http.ResponseWriter, r *http.Request) error {
	id, err := s.self(w, r)
	if err != nil {
		return err
	}
	out, err := s.onAgent(r.Context(), id, eventstore.Cause{ID: uuid.NewString()}, agent.Logout{Agent: id, At: s.deps.Clock.Now()})
	if err != nil {
		return problem(err)
	}
	consistency.Set(w, out.Position)
	httpx.WriteJSON(w, http.StatusOK, s.presentAgent(id, out.State))
	return nil
}

func (s *Service) setState(w http.ResponseWriter, r *http.Request) error {
	id, err := s.self(w, r)
	if err != nil {
		return err
	}
	var body struct {
		Channel string `json:"channel"`
		State   string `json:"state"`
		Reason  string `json:"reason"`
	}
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if len(body.Reason) > 100 {
		return httpx.BadField("reason", "must be at most 100 bytes")
	}
	channel, ok := words.ParseChannel(body.Channel)
	if !ok {
		return httpx.BadField("channel", fmt.Sprintf("unknown channel %q: webcallback or voice", body.Channel))
	}
	state, ok := words.ParseAgentState(strings.ToUpper(body.State))
	if !ok {
		return httpx.BadField("state", fmt.Sprintf("unknown state %q: an agent sets READY or NOT_READY", body.State))
	}
	out, err := s.onAgent(r.Context(), id, eventstore.Cause{ID: uuid.NewString()}, agent.SetState{Agent: id,
		Channel: channel, State: state, Reason: body.Reason, At: s.deps.Clock.Now()})
	if err != nil {
		return problem(err)
	}
	consistency.Set(w, out.Position)
	httpx.WriteJSON(w, http.StatusOK, s.presentAgent(id, out.State))
	return nil
}

func (s *Service) getAgent(w http.ResponseWriter, r *http.Request) error {
	id, err := s.self(w, r)
	if err != nil {
		return err
	}
	l, err := eventstore.Load(r.Context(), s.deps.Store, agent.Stream(id), agents)
	if err != nil {
		return err
	}
	if l.Expected == eventstore.NoStream {
		return httpx.NotFound("no agent " + id)
	}
	httpx.WriteJSON(w, http.StatusOK, s.presentAgent(id, l.State))
	return nil
}

func (s *Service) getInteraction(w http.ResponseWriter, r *http.Request) error {
	// Who may read it was settled by entitled (issue 16).
	if at, ok, err := timetravel.Parse(r, s.deps.Clock.Now()); err != nil || ok {
		if err != nil {
			return err
		}
		return s.getInteractionAt(w, r, at)
	}
	st, err := s.awaitInteraction(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, s.present(st))
	return nil
}

// getInteractionAt answers the interaction as it was at (issue 14): its
// stream folded up to then, read from the store (sealed fields open, or
// read [erased], as they do live), presented as the live answer is.
func (s *Service) getInteractionAt(w http.ResponseWriter, r *http.Request, at time.Time) error {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		return notFound(id)
	}
	a, err := eventstore.LoadAt(r.Context(), s.deps.Store, interaction.Stream(id), interactions, at)
	if err != nil {
		return timetravel.Problem(err, "interaction "+id)
	}
	if a.State.Phase == interaction.None {
		return notFound(id)
	}
	timetravel.Set(w, a)
	httpx.WriteJSON(w, http.StatusOK, s.presentStored(a.State))
	return nil
}

// actor is the agent acting on an interaction: the token's agent; without
// an agents file, the X-Ringback-Agent header when given, else the agent the
// interaction is offered to or accepted by. Decide refuses anyone else.
func (s *Service) actor(w http.ResponseWriter, r *http.Request, st interaction.State) (string, error) {
	who, err := s.who(w, r)
	if err != nil || who != "" {
		return who, err
	}
	a := r.Header.Get("X-Ringback-Agent")
	if a == "" {
		return st.Agent, nil
	}
	if !agentauth.ValidID(a) {
		return "", httpx.BadField("X-Ringback-Agent", "not an agent id")
	}
	return a, nil
}

// command runs an agent command on an interaction and, when settle is set,
// waits until it holds (the router or the media gateway answered) before
// answering: 200 with the interaction, or 202 if it did not settle in time.
func (s *Service) command(w http.ResponseWriter, r *http.Request, mk func(agent string, now time.Time) interaction.Command,
	settle func(interaction.State) bool) error {
	id := r.PathValue("id")
	st, err := s.awaitInteraction(r.Context(), id)
	if err != nil {
		return err
	}
	who, err := s.actor(w, r, st)
	if err != nil {
		return err
	}
	cause := eventstore.Cause{ID: uuid.NewString(), Correlation: st.CallbackID}
	out, err := s.onInteraction(r.Context(), id, cause, mk(who, s.deps.Clock.Now()))
	if errors.Is(err, interaction.ErrNeedDisposition) && s.awaitFact(r.Context(), id, hasDisposition) {
		// The disposition the client set a moment ago has reached us now.
		out, err = s.onInteraction(r.Context(), id, cause, mk(who, s.deps.Clock.Now()))
	}
	if err != nil {
		return problem(err)
	}
	return s.answer(w, r, id, out, settle)
}

// answer writes the interaction after a command, waiting first, when settle
// is set, until the command holds (see command).
func (s *Service) answer(w http.ResponseWriter, r *http.Request, id string, out eventstore.Outcome[interaction.State],
	settle func(interaction.State) bool) error {
	status, final := http.StatusOK, out.State
	if settle != nil && !settle(out.State) {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.CommandWait)
		defer cancel()
		// The view first folds our own write, then waits for the answer;
		// an interaction gone from the view was withdrawn or is done.
		err := s.proj.WaitFor(ctx, out.Position)
		if err == nil {
			err = s.proj.WaitUntil(ctx, func() bool { v, ok := s.view.interaction(id); return !ok || settle(v) })
		}
		if err != nil {
			status = http.StatusAccepted
		}
		// Another service's answer came (or did not): read what it says.
		// A command that waits for nobody answers the state it decided.
		if final, err = s.loadInteraction(r.Context(), id); err != nil {
			return err
		}
	}
	consistency.Set(w, out.Position)
	httpx.WriteJSON(w, status, s.present(final))
	return nil
}

func (s *Service) accept(w http.ResponseWriter, r *http.Request) error {
	return s.command(w, r, func(a string, now time.Time) interaction.Command { return interaction.Accept{Agent: a, At: now} },
		func(st interaction.State) bool { return st.Phase != interaction.Accepting })
}

func (s *Service) reject(w http.ResponseWriter, r *http.Request) error {
	return s.command(w, r, func(a string, now time.Time) interaction.Command { return interaction.Reject{Agent: a, At: now} }, nil)
}

func (s *Service) call(w http.ResponseWriter, r *http.Request) error {
	return s.command(w, r, func(a string, now time.Time) interaction.Command {
		ag, err := s.agentNow(r.Context(), a)
		if err != nil { // the store will refuse the dial too; the view is close
			ag, _ = s.view.agent(a)
		}
		return interaction.Call{Agent: a, CallID: uuid.NewString(), PhoneURI: phoneOf(a, ag), At: now, Windows: s.windows,
			Services: s.cfg.ServiceSet, ContactCancelled: s.contactCancelled(r.Context(), r.PathValue("id"))}
	}, nil)
}

// contactCancelled says whether the callback of interaction id was
// cancelled. A visitor who cancels as the agent accepts is told "we will
// not call you" once intake has written CallbackCancelled; the router
// withdraws only offers no agent took, so the dial is where that promise
// is kept. Read from intake's stream in the store, not from the view:
// the cancel is durable before its answer, so a click after it is refused
// on any replica. A failed read lets the call go, as before this check.
func (s *Service) contactCancelled(ctx context.Context, id string) bool {
	st, ok := s.view.interaction(id)
	if !ok || st.CallbackID == "" {
		l, err := s.loadInteraction(ctx, id)
		if err != nil {
			return false
		}
		st = l
	}
	if st.CallbackID == "" {
		return false
	}
	recs, err := s.deps.Store.ReadStream(ctx, streams.IntakeCallback+st.CallbackID, 0)
	if err != nil {
		s.deps.Log.Warn("could not read the callback before a dial", "interaction", id, "err", err)
		return false
	}
	for _, r := range recs {
		if r.Type == cancelledType {
			return true
		}
	}
	return false
}

var cancelledType = catalog.TypeName(&callbackv1.CallbackCancelled{})

// agentNow is the agent as stored, read through the cache: the phone an
// agent logged in with on another replica a moment ago is there even when
// this replica's view has not folded it yet (any replica serves any agent).
func (s *Service) agentNow(ctx context.Context, id string) (agent.State, error) {
	l, err := s.agentCache.Load(ctx, s.deps.Store, agent.Stream(id), agents)
	if err != nil {
		return agent.State{}, err
	}
	return l.State, nil
}

// phoneOf is where an agent is rung.
func phoneOf(id string, a agent.State) string {
	if a.PhoneURI != "" {
		return a.PhoneURI
	}
	// Logged in without a phone: ring the softphone the agent registered
	// with the media gateway.
	return "registered:" + id
}

func (s *Service) endCall(w http.ResponseWriter, r *http.Request) error {
	return s.command(w, r, func(a string, now time.Time) interaction.Command { return interaction.EndCall{Agent: a, At: now} },
		func(st interaction.State) bool { return st.CallStatus == interaction.ReadyToCall })
}

func (s *Service) done(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	err := s.command(w, r, func(a string, now time.Time) interaction.Command {
		return interaction.Finish{Agent: a, RequireDisposition: s.cfg.RequireDisposition, At: now, Services: s.cfg.ServiceSet}
	}, nil)
	if err != nil {
		return err
	}
	// The answer is written: a failure from here on is the platform's to
	// log; the agent can still set Ready by hand.
	st, err := s.loadInteraction(r.Context(), id)
	if err == nil {
		err = s.afterCallWork(r.Context(), st)
	}
	if err != nil {
		s.deps.Log.ErrorContext(r.Context(), "after call work", "interaction", id, "err", err)
	}
	return nil
}

func (s *Service) hold(on bool) httpx.Func {
	want := interaction.Connected
	if on {
		want = interaction.OnHold
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.command(w, r, func(a string, now time.Time) interaction.Command {
			return interaction.Hold{Agent: a, Hold: on, At: now}
		},
			func(st interaction.State) bool {
				return st.CallStatus == want || st.CallStatus == interaction.ReadyToCall
			})
	}
}

func (s *Service) dtmf(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Digits string `json:"digits"`
	}
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	return s.command(w, r, func(a string, now time.Time) interaction.Command {
		return interaction.SendDTMF{Agent: a, Digits: body.Digits, At: now}
	}, nil)
}

func (s *Service) mute(on bool) httpx.Func {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.command(w, r, func(a string, now time.Time) interaction.Command {
			return interaction.Mute{Agent: a, Mute: on, At: now}
		},
			func(st interaction.State) bool { return st.Muted == on || st.CallStatus == interaction.ReadyToCall })
	}
}

func (s *Service) record(on bool) httpx.Func {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.command(w, r, func(a string, now time.Time) interaction.Command {
			return interaction.Record{Agent: a, Record: on, At: now}
		},
			func(st interaction.State) bool { return st.Recording == on || st.CallStatus == interaction.ReadyToCall })
	}
}

func (s *Service) reschedule(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Time string `json:"time"`
		// Personal: the callback comes back to this agent only (issue 11).
		Personal bool `json:"personal"`
	}
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	at, err := httpx.ParseTime("time", body.Time) // refuses an offset such as -24:00 (issue 16)
	if err != nil {
		return err
	}
	return s.command(w, r, func(a string, now time.Time) interaction.Command {
		return interaction.Reschedule{Agent: a, Time: at, Personal: body.Personal, At: now}
	}, nil)
}
