package scheduler_test

import (
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	"github.com/ringback/ringback/services/scheduler"
)

// TestScheduleIsReadByItsAgentOnly (issue 16): with agents on, anonymous
// 401; an agent who did not accept the callback gets the 404 of an unknown
// one; the agent who accepted it, 200.
func TestScheduleIsReadByItsAgentOnly(t *testing.T) {
	env, _ := newEnv(t, scheduler.Config{AgentsFile: servicetest.AgentsFile(t, "a1", "a2")})
	id := request(env, "support", time.Time{})
	eventually(t, "the callback due", func() bool { return types(env, "scheduler-callback-"+id) == "CallbackScheduled,CallbackDue" })
	path := "/v1/schedule/" + id
	unknown := "/v1/schedule/00000000-0000-4000-8000-000000000000"

	for _, h := range []map[string]string{nil, {"Authorization": "Bearer wrong"}} {
		if res := env.DoWith("GET", path, h, nil, nil); res.StatusCode != http.StatusUnauthorized ||
			res.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("GET with %v: %d", h, res.StatusCode)
		}
	}
	for _, who := range []string{"a1", "a2"} {
		if a, b := env.DoWith("GET", path, servicetest.Bearer(who), nil, nil).StatusCode,
			env.DoWith("GET", unknown, servicetest.Bearer(who), nil, nil).StatusCode; a != 404 || b != 404 {
			t.Fatalf("%s before any accept: %d, unknown %d; want 404 both", who, a, b)
		}
	}
	env.AppendAs("agent-interaction-i1", eventstore.Cause{ID: "accepted-1", Correlation: id},
		&agentv1.InteractionAccepted{InteractionId: "i1", AgentId: "a1", At: timestamppb.New(env.Clock.Now())})
	eventually(t, "a1 reads the schedule", func() bool {
		return env.DoWith("GET", path, servicetest.Bearer("a1"), nil, nil).StatusCode == http.StatusOK
	})
	if got := env.DoWith("GET", path, servicetest.Bearer("a2"), nil, nil).StatusCode; got != http.StatusNotFound {
		t.Fatalf("a2 reads a1's schedule: %d", got)
	}
}
