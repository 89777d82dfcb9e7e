package scheduler_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/scheduler"
	"github.com/ringback/ringback/services/scheduler/schedule"
)

func services(t *testing.T, doc string) *serviceconf.Set {
	t.Helper()
	set, err := serviceconf.Parse([]byte(doc), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// A busy contact is tried again after the policy's delays, growing, keeping
// its first due time for aging; after the last attempt nothing more.
func TestBusyIsRetriedAfterThePolicysDelays(t *testing.T) {
	set := services(t, `services: {"*": {calling_window: "off", retry: {busy: {attempts: 3, delay: 5m, backoff: 2}}}}`)
	env, _ := newEnv(t, scheduler.Config{ServiceSet: set})
	id := request(env, "support", time.Time{})
	stream := schedule.Stream(id)
	first := servicetest.WaitEvent[*callbackv1.CallbackDue](env, stream)
	t0 := env.Clock.Now()
	interaction := first.InteractionId
	for _, step := range []struct {
		attempts int
		delay    time.Duration
	}{{1, 5 * time.Minute}, {2, 10 * time.Minute}} {
		n := len(env.Events(stream))
		env.Append("agent-interaction-"+interaction, "done-"+interaction, &agentv1.InteractionDone{InteractionId: interaction,
			CallbackId: id, AgentId: "a1", Rescheduled: true, RetryOutcome: "busy", Attempts: int32(step.attempts)})
		eventually(t, "rescheduled", func() bool { return len(env.Events(stream)) > n })
		re, ok := env.Events(stream)[n].(*callbackv1.CallbackRescheduled)
		if !ok || re.Retry.GetAttempt() != int32(step.attempts+1) || re.Retry.GetMax() != 3 ||
			!re.DueAt.AsTime().Equal(env.Clock.Now().Add(step.delay)) || !strings.Contains(re.Reason, "busy: attempt") {
			t.Fatalf("after attempt %d: %v", step.attempts, env.Events(stream)[n])
		}
		advance(t, env, step.delay)
		eventually(t, "due again", func() bool { return len(env.Events(stream)) > n+1 })
		due := env.Events(stream)[n+1].(*callbackv1.CallbackDue)
		if due.Attempts != int32(step.attempts) || !due.FirstDueAt.AsTime().Equal(t0) || due.InteractionId == interaction {
			t.Fatalf("due again: %v", due)
		}
		interaction = due.InteractionId
	}
	// The third attempt was the last: a retry asked for anyway changes nothing.
	n := len(env.Events(stream))
	env.Append("agent-interaction-"+interaction, "done-"+interaction, &agentv1.InteractionDone{InteractionId: interaction,
		CallbackId: id, AgentId: "a1", Rescheduled: true, RetryOutcome: "busy", Attempts: 3})
	time.Sleep(50 * time.Millisecond)
	if len(env.Events(stream)) != n {
		t.Fatalf("a fourth attempt: %s", types(env, stream))
	}
}

// A retry never falls outside the calling window in the contact's time.
func TestRetryKeepsToTheCallingWindow(t *testing.T) {
	set := services(t, `services: {"*": {calling_window: "08:00-21:00", retry: {no_answer: {attempts: 2, delay: 30m}}}}`)
	env, _ := newEnv(t, scheduler.Config{ServiceSet: set})
	// The fake clock starts at 09:00 UTC: 10:00 in Paris, inside.
	id := request(env, "support", time.Time{})
	stream := schedule.Stream(id)
	due := servicetest.WaitEvent[*callbackv1.CallbackDue](env, stream)
	// Eleven hours later it is 21:00 in Paris: the retry's 21:30 moves to 08:00.
	env.Clock.Advance(11 * time.Hour)
	n := len(env.Events(stream))
	env.Append("agent-interaction-"+due.InteractionId, "done", &agentv1.InteractionDone{InteractionId: due.InteractionId,
		CallbackId: id, AgentId: "a1", Rescheduled: true, RetryOutcome: "no_answer", Attempts: 1})
	eventually(t, "rescheduled", func() bool { return len(env.Events(stream)) > n })
	re := env.Events(stream)[n].(*callbackv1.CallbackRescheduled)
	paris, _ := time.LoadLocation("Europe/Paris")
	if got := re.DueAt.AsTime().In(paris); got.Hour() != 8 || got.Minute() != 0 || re.MovedByWindow == nil {
		t.Fatalf("retry due %s (%v)", got, re.MovedByWindow)
	}
}

// A callback not connected within its time to live expires, once, whether
// scheduled or queued; one in an agent's hands does not. The time to live
// counts from the later of the request and the wished time: a callback
// booked ahead lives that long past its time.
func TestTimeToLive(t *testing.T) {
	set := services(t, `services: {"*": {calling_window: "off", time_to_live: 1h}}`)
	env, in := newEnv(t, scheduler.Config{ServiceSet: set})
	later := env.Clock.Now().Add(3 * time.Hour)
	scheduled := request(env, "support", later) // due after an hour: it expires an hour after that
	queued := request(env, "support", time.Time{})
	held := request(env, "support", time.Time{})
	servicetest.WaitEvent[*callbackv1.CallbackScheduled](env, schedule.Stream(scheduled))
	servicetest.WaitEvent[*callbackv1.CallbackDue](env, schedule.Stream(queued))
	heldDue := servicetest.WaitEvent[*callbackv1.CallbackDue](env, schedule.Stream(held))
	env.AppendAs("agent-interaction-"+heldDue.InteractionId, eventstore.Cause{ID: "accepted", Correlation: held}, &agentv1.InteractionAccepted{InteractionId: heldDue.InteractionId, AgentId: "a1"})
	eventually(t, "acceptance noted", func() bool { return strings.HasSuffix(types(env, schedule.Stream(held)), "CallbackAccepted") })
	advance(t, env, time.Hour)
	for _, id := range []string{queued} {
		e := servicetest.WaitEvent[*callbackv1.CallbackExpired](env, schedule.Stream(id))
		if !strings.HasPrefix(e.Reason, "FAIL_EXPIRED") {
			t.Errorf("%s: %v", id, e)
		}
	}
	if e := servicetest.WaitEvent[*callbackv1.CallbackExpired](env, schedule.Stream(queued)); e.InteractionId == "" {
		t.Error("a queued callback's expiry names its interaction, for the router")
	}
	time.Sleep(50 * time.Millisecond)
	if got := types(env, schedule.Stream(held)); strings.Contains(got, "Expired") {
		t.Fatalf("in an agent's hands: %s", got)
	}
	if got := types(env, schedule.Stream(scheduled)); strings.Contains(got, "Expired") {
		t.Fatalf("booked 3 h ahead, expired an hour after the request: %s", got)
	}
	// Due at 3 h, not connected by 4 h: over.
	env.Clock.Advance(2 * time.Hour)
	servicetest.WaitEvent[*callbackv1.CallbackDue](env, schedule.Stream(scheduled))
	advance(t, env, time.Hour)
	if e := servicetest.WaitEvent[*callbackv1.CallbackExpired](env, schedule.Stream(scheduled)); !strings.HasPrefix(e.Reason, "FAIL_EXPIRED") {
		t.Errorf("booked ahead: %v", e)
	}
	if got := metric(t, in.reg, "ringback_callbacks_expired_total"); got != 2 {
		t.Fatalf("expired counter %v", got)
	}
}
