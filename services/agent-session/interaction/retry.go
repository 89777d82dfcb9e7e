package interaction

import (
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/serviceconf"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
)

// TotalAttempts are the calls made to the contact, over every interaction
// of the callback.
func (s State) TotalAttempts() int { return s.PriorAttempts + s.Attempts }

// Result is the GMS-style reason a callback completes without reaching its
// contact after outcome, e.g. FAIL_BUSY.
func Result(outcome string) string {
	if code, ok := strings.CutPrefix(outcome, "disposition:"); ok && code != "" {
		return "FAIL_DISPOSITION"
	}
	return "FAIL_" + strings.ToUpper(outcome)
}

// autoRetry ends the interaction for the scheduler's next attempt, or
// completes the callback once the attempts are used; nothing when the
// policy leaves the next attempt to the agent, or has none.
func (s State) autoRetry(c AutoRetry) ([]proto.Message, error) {
	if s.Phase != Accepted || s.CallStatus != ReadyToCall || s.Outcome == "" || !s.RescheduledFor.IsZero() || s.Third.Asked() {
		return nil, nil
	}
	p, ok := s.retry(c.Services).Outcomes[serviceconf.Outcome(s.Outcome)]
	if !ok || p.Then != serviceconf.ThenScheduler {
		return nil, nil
	}
	done := &agentv1.InteractionDone{InteractionId: s.ID, CallbackId: s.CallbackID, AgentId: s.Agent,
		Disposition: s.Disposition, Attempts: int32(s.TotalAttempts()), RetryOutcome: s.Outcome, At: ts(c.At)}
	if s.TotalAttempts() < p.Attempts {
		done.Rescheduled = true
	} else {
		done.Result = Result(s.Outcome)
	}
	return s.ending(s.Agent, c.At, done), nil
}

// finish is the InteractionDone of the agent's Done: a disposition code
// with a retry policy asks for another try; a last call that did not reach
// the contact, with the attempts used, completes it unreached.
func (s State) finish(c Finish) *agentv1.InteractionDone {
	done := &agentv1.InteractionDone{InteractionId: s.ID, CallbackId: s.CallbackID, AgentId: c.Agent,
		Disposition: s.Disposition, Rescheduled: !s.RescheduledFor.IsZero(), Attempts: int32(s.TotalAttempts()), At: ts(c.At)}
	if done.Rescheduled {
		return done // the agent's own reschedule
	}
	retry := s.retry(c.Services)
	if p, ok := retry.Dispositions[s.Disposition]; ok && s.Disposition != "" {
		done.RetryOutcome = "disposition:" + s.Disposition
		if s.TotalAttempts() < p.Attempts {
			done.Rescheduled = true
		} else {
			done.Result = Result(done.RetryOutcome)
		}
		return done
	}
	if p, ok := retry.Outcomes[serviceconf.Outcome(s.Outcome)]; ok && s.Outcome != "" && s.TotalAttempts() >= p.Attempts {
		done.RetryOutcome, done.Result = s.Outcome, Result(s.Outcome)
	}
	return done
}

// retry is the retry policy of the interaction's service (the defaults
// with no services file).
func (s State) retry(set *serviceconf.Set) serviceconf.Retry {
	return set.Of(s.Request.GetService()).Retry
}
