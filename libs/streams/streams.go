// Package streams names every event stream of the platform, in one place:
// services read each other's streams (the supervisor board folds intake's
// callbacks, intake's list reads history's erasures), and a literal copied
// into a second service is a contract nobody sees.
//
// A stream is <service>-<noun>-<id>: the first word is the service that
// owns (writes) it and the bus topic it is published to (envelope.Topic);
// the noun says what one stream holds; the id is the rest. No prefix is a
// prefix of another, so a reader that takes a prefix takes one kind of
// stream (TestNoPrefixShadowsAnother).
//
// Stores from before agent-session's agent streams were named
// agent-session-<id> (they were agent-<id>, which an agent id such as
// "interaction-x" could make collide with agent-interaction-<id>) keep those
// streams, but no service reads them: an agent logs in again after the
// upgrade. Callbacks, interactions, calls and history are named as before
// and read as before.
package streams

// The streams, by owner.
const (
	IntakeCallback = "intake-callback-" // a callback's request and life, by callback id
	IntakeContact  = "intake-contact-"  // the claims on one number (its name a keyed hash, never the number)

	SchedulerCallback = "scheduler-callback-" // a callback's schedule, by callback id
	SchedulerSlot     = "scheduler-slot-"     // the places taken in one capacity bucket of a service

	RouterInteraction = "router-interaction-" // an interaction's offers, by interaction id
	RouterAgent       = "router-agent-"       // the router's record of one agent
	RouterDispatcher  = "router-dispatcher-"  // the dispatcher's fence

	AgentSession     = "agent-session-"     // one agent's logins and states, by agent id
	AgentInteraction = "agent-interaction-" // an interaction on the agent's side, by interaction id

	MediaCall         = "media-call-"         // one call's legs, by call id
	MediaRegistration = "media-registration-" // where a SIP phone is registered

	HistoryCallback    = "history-callback-"    // a callback's timeline
	HistoryInteraction = "history-interaction-" // an interaction's notes and case data
	HistoryContact     = "history-contact-"     // a contact's record
	HistoryErasure     = "history-erasure-"     // a contact's erasure

	DispositionInteraction = "disposition-interaction-" // an interaction's disposition code
)

// All lists every prefix, for the tests that hold the naming rule.
var All = []string{
	IntakeCallback, IntakeContact,
	SchedulerCallback, SchedulerSlot,
	RouterInteraction, RouterAgent, RouterDispatcher,
	AgentSession, AgentInteraction,
	MediaCall, MediaRegistration,
	HistoryCallback, HistoryInteraction, HistoryContact, HistoryErasure,
	DispositionInteraction,
}
