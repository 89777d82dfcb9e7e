package intake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/servicetest"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
	"github.com/ringback/ringback/services/intake/callback"
)

// A visitor moves their callback as it is offered to an agent. The router
// decides which came first (README, self-service), and the move's answer
// says what it decided: before, a 200 told the visitor "moved" even when
// the agent had won and was calling them at the old time.
func TestAMoveRacingAnAcceptIsAnsweredWithTheOutcome(t *testing.T) {
	env := startLinks(t, Config{LinkKey: &testLinkKey, MoveWait: 400 * time.Millisecond})
	later := servicetest.Start.Add(5 * time.Hour)
	agentWon := &routingv1.OfferAccepted{InteractionId: "i1", AgentId: "a1", At: timestamppb.New(servicetest.Start)}

	t.Run("the agent came first: 409, and the callback is theirs", func(t *testing.T) {
		cb := dueNow(t, env, "+14155550101", "i1")
		answer := moveAsync(env, cb, later)
		waitMoveAsked(t, env, cb.ID)
		env.AppendAs("router-interaction-i1", eventstore.Cause{ID: uuid.NewString(), Correlation: cb.ID}, agentWon)
		got := <-answer
		if got.status != http.StatusConflict || !strings.Contains(got.body, "an agent took this callback as it was being moved") {
			t.Fatalf("answer %d %s", got.status, got.body)
		}
		var v selfView
		env.Do("GET", "/v1/self/"+cb.SelfService.Token, nil, &v)
		if v.State != "IN_PROGRESS" || v.MovePending || v.Changeable {
			t.Fatalf("after: %+v", v)
		}
	})

	t.Run("the router withdrew it: 200, moved", func(t *testing.T) {
		cb := dueNow(t, env, "+14155550102", "i2")
		answer := moveAsync(env, cb, later)
		waitMoveAsked(t, env, cb.ID)
		env.Append("scheduler-callback-"+cb.ID, uuid.NewString(), &callbackv1.CallbackRescheduled{CallbackId: cb.ID,
			DueAt: timestamppb.New(later), Reason: "moved by the visitor through their link"})
		got := <-answer
		var v selfView
		if err := json.Unmarshal([]byte(got.body), &v); got.status != http.StatusOK || err != nil {
			t.Fatalf("answer %d %s", got.status, got.body)
		}
		if v.State != "SCHEDULED" || v.MovePending || v.ScheduledFor == nil || !v.ScheduledFor.Equal(later) {
			t.Fatalf("moved: %+v", v)
		}
	})

	t.Run("no decision within the wait: 202, then the state says", func(t *testing.T) {
		cb := dueNow(t, env, "+14155550103", "i3")
		got := <-moveAsync(env, cb, later)
		var v selfView
		if err := json.Unmarshal([]byte(got.body), &v); got.status != http.StatusAccepted || err != nil || !v.MovePending {
			t.Fatalf("answer %d %s", got.status, got.body)
		}
		// Asked again (a retried PUT): the same wait, the same answer.
		if again := <-moveAsync(env, cb, later); again.status != http.StatusAccepted {
			t.Fatalf("retried: %d %s", again.status, again.body)
		}
		env.AppendAs("router-interaction-i3", eventstore.Cause{ID: uuid.NewString(), Correlation: cb.ID},
			&routingv1.OfferAccepted{InteractionId: "i3", AgentId: "a1", At: timestamppb.New(servicetest.Start)})
		waitView(t, env, cb.ID, func(v callbackView) bool { return v.State == "IN_PROGRESS" && !v.MovePending })
	})

	t.Run("the API's move waits alike", func(t *testing.T) {
		cb := dueNow(t, env, "+14155550104", "i4")
		var v callbackView
		res := env.Do("PUT", "/v1/callbacks/"+cb.ID, map[string]any{"desired_time": later.Format(time.RFC3339)}, &v)
		if res.StatusCode != http.StatusAccepted || !v.MovePending {
			t.Fatalf("PUT: %d %+v", res.StatusCode, v)
		}
	})

	t.Run("a callback not yet due is moved at once", func(t *testing.T) {
		cb := book(t, env, "+14155550105")
		start := time.Now()
		var v selfView
		res := env.Do("PUT", "/v1/self/"+cb.SelfService.Token, map[string]any{"desired_time": later.Format(time.RFC3339)}, &v)
		if res.StatusCode != http.StatusOK || v.MovePending || time.Since(start) > 300*time.Millisecond {
			t.Fatalf("PUT: %d %+v in %s", res.StatusCode, v, time.Since(start))
		}
	})
}

// dueNow asks for a callback as soon as possible and has it fall due with
// interaction, as the scheduler does.
func dueNow(t *testing.T, env *servicetest.Env, phone, interaction string) callbackView {
	t.Helper()
	var cb callbackView
	if res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": phone}, &cb); res.StatusCode != http.StatusCreated || cb.SelfService == nil {
		t.Fatalf("POST: %d %+v", res.StatusCode, cb)
	}
	env.Append("scheduler-callback-"+cb.ID, uuid.NewString(), &callbackv1.CallbackDue{CallbackId: cb.ID, InteractionId: interaction,
		DueAt: timestamppb.New(servicetest.Start)})
	v := waitView(t, env, cb.ID, func(v callbackView) bool { return v.State == "QUEUED" && v.InteractionID == interaction })
	v.SelfService = cb.SelfService // shown in the create's answer only
	return v
}

type answered struct {
	status int
	body   string
}

// moveAsync moves cb to at through its link, answering on the channel.
func moveAsync(env *servicetest.Env, cb callbackView, at time.Time) <-chan answered {
	out := make(chan answered, 1)
	go func() {
		body := fmt.Sprintf(`{"desired_time":%q}`, at.Format(time.RFC3339))
		req, _ := http.NewRequest("PUT", env.Server.URL+"/v1/self/"+cb.SelfService.Token, bytes.NewBufferString(body))
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			out <- answered{body: err.Error()}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		out <- answered{status: res.StatusCode, body: string(b)}
	}()
	return out
}

// waitMoveAsked waits until the move is recorded and waits for the router.
func waitMoveAsked(t *testing.T, env *servicetest.Env, id string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		l, err := eventstore.Load(t.Context(), env.Store, callback.Stream(id), aggregate)
		if err == nil && l.State.MoveAsked {
			return
		}
	}
	t.Fatal("the move was never recorded")
}

// A wait that ends inside its first read of the callback (the e2e tests run
// with --intake.move-wait 1ms) still answers the callback as the move left
// it: before, the 202 carried an empty callback, whose move_pending was
// false, and the visitor's page said "moved" at once, with no state.
func TestAMoveWhoseWaitEndsAtOnceAnswersThePendingCallback(t *testing.T) {
	env := startLinks(t, Config{LinkKey: &testLinkKey, MoveWait: time.Nanosecond})
	cb := dueNow(t, env, "+14155550109", "i9")
	got := <-moveAsync(env, cb, servicetest.Start.Add(5*time.Hour))
	var v selfView
	if err := json.Unmarshal([]byte(got.body), &v); got.status != http.StatusAccepted || err != nil {
		t.Fatalf("answer %d %s", got.status, got.body)
	}
	if !v.MovePending || v.State == "" || v.State == "UNSPECIFIED" || v.PhoneNumber == "" {
		t.Fatalf("a move pending answered %+v, want the callback, its move pending", v)
	}
}
