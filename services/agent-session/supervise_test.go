package agentsession

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/service"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	dispositionv1 "github.com/ringback/ringback/proto/ringback/disposition/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	"github.com/ringback/ringback/services/agent-session/agent"
	"github.com/ringback/ringback/services/agent-session/interaction"
	"github.com/ringback/ringback/services/agent-session/supervisor"
)

const supervisorsJSON = `{"agents": [
  {"id": "a1", "token": "tok-a1", "skills": {"support": 5}},
  {"id": "b1", "token": "tok-b1", "skills": {"billing": 5}},
  {"id": "sup", "token": "tok-sup", "supervisor": true, "services": ["support"]},
  {"id": "boss", "token": "tok-boss", "supervisor": true}
]}`

func startSupervised(t *testing.T) *servicetest.Env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agents.json")
	if err := os.WriteFile(path, []byte(supervisorsJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	env := servicetest.New(t)
	s, err := New(Config{AgentsFile: path, CommandWait: 5 * time.Second}, Deps{Deps: service.Deps{Store: env.Store,
		Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
	if err != nil {
		t.Fatal(err)
	}
	env.Go(s.Run)
	env.Relay(Topics...)
	return env
}

// requestCallback stores what intake stores for a new callback.
func requestCallback(env *servicetest.Env, id, service string) {
	env.Append(supervisor.CallbackPrefix+id, "create-"+id, &callbackv1.CallbackRequested{CallbackId: id,
		Request: &callbackv1.CallbackRequest{Service: service, PhoneNumber: "+14155550123", RequestedAt: timestamppb.New(servicetest.Start)}})
}

func TestOnlySupervisorsReadTheBoard(t *testing.T) {
	env := startSupervised(t)
	for _, c := range []struct {
		token string
		want  int
	}{{"", 401}, {"tok-a1", 403}, {"tok-sup", 200}, {"tok-boss", 200}} {
		for _, path := range []string{"/v1/supervisor/summary", "/v1/supervisor/events"} {
			h := map[string]string{}
			if c.token != "" {
				h = bearer(c.token)
			}
			ctx, cancel := context.WithCancel(t.Context())
			req, _ := http.NewRequestWithContext(ctx, "GET", env.Server.URL+path, nil)
			for k, v := range h {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != c.want {
				t.Errorf("GET %s as %q: %d, want %d", path, c.token, res.StatusCode, c.want)
			}
			if c.want != 200 && !strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
				t.Errorf("GET %s as %q: a refusal of type %q", path, c.token, res.Header.Get("Content-Type"))
			}
			res.Body.Close()
			cancel()
		}
	}
}

func TestBoardShowsTheSupervisorsServicesAndMovesLive(t *testing.T) {
	env := startSupervised(t)
	feed := openBoard(t, env, "tok-sup")
	requestCallback(env, "cb-1", "support")
	requestCallback(env, "cb-2", "billing")
	s := feed.until(t, func(s supervisor.Summary) bool { return len(s.Services) == 1 && s.Services[0].Waiting == 1 })
	if s.Services[0].Service != "support" {
		t.Fatalf("support's supervisor sees %+v", s.Services)
	}
	// The router offers it to a1: it is offered, no longer waiting.
	offer(env, "1", "a1")
	feed.until(t, func(s supervisor.Summary) bool {
		return len(s.Services) == 1 && s.Services[0].Offered == 1 && s.Services[0].Waiting == 0
	})
	env.Append(supervisor.CallbackPrefix+"cb-1", "done-1", &callbackv1.CallbackStateChanged{CallbackId: "cb-1",
		State: callbackv1.CallbackState_CALLBACK_STATE_COMPLETED, At: timestamppb.New(env.Clock.Now()), Disposition: "sold"})
	feed.until(t, func(s supervisor.Summary) bool {
		return s.Services[0].Completed["sold"] == 1 && s.Services[0].Offered == 0
	})

	// The summary says the same; the supervisor of every service sees both.
	var all superView
	waitFor(t, "both services on the summary", func() bool {
		env.DoWith("GET", "/v1/supervisor/summary", bearer("tok-boss"), nil, &all)
		return len(all.Services) == 2
	})
}

// board reads a supervisor's live feed.
type board struct{ summaries chan supervisor.Summary }

func openBoard(t *testing.T, env *servicetest.Env, token string) *board {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", env.Server.URL+"/v1/supervisor/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("supervisor events: %v %v", err, res)
	}
	b := &board{summaries: make(chan supervisor.Summary, 100)}
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		name := ""
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				name = v
			}
			if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok && name == "summary" {
				var s supervisor.Summary
				if json.Unmarshal([]byte(v), &s) == nil {
					b.summaries <- s
				}
			}
		}
	}()
	return b
}

func (b *board) until(t *testing.T, ok func(supervisor.Summary) bool) supervisor.Summary {
	t.Helper()
	var last supervisor.Summary
	for {
		select {
		case s := <-b.summaries:
			if ok(s) {
				return s
			}
			last = s
		case <-time.After(10 * time.Second):
			t.Fatalf("no such summary pushed within 10s; last %+v", last)
		}
	}
}

func TestSupervisorForcesNotReadyAndLogsOutWithWhoAndWhy(t *testing.T) {
	env := startSupervised(t)
	for _, id := range []string{"a1", "b1"} {
		if res := env.DoWith("POST", "/v1/agents/"+id+"/session", bearer("tok-"+id), map[string]string{}, nil); res.StatusCode != 200 {
			t.Fatalf("%s login: %d", id, res.StatusCode)
		}
		env.DoWith("PUT", "/v1/agents/"+id+"/state", bearer("tok-"+id), map[string]string{"channel": "webcallback", "state": "READY"}, nil)
	}
	var all superView
	waitFor(t, "both agents on the board", func() bool {
		env.DoWith("GET", "/v1/supervisor/summary", bearer("tok-boss"), nil, &all)
		return len(all.AgentRows) == 2 && all.AgentRows[0].State == "READY" && all.AgentRows[1].State == "READY"
	})

	before := env.Stored()
	why := map[string]string{"reason": "Coaching", "why": "queue review at 10"}
	for _, c := range []struct {
		name, path, token string
		body              any
		want              int
		field             string
	}{
		{"an agent", "/v1/supervisor/agents/b1/not-ready", "tok-a1", why, 403, "Authorization"},
		{"no token", "/v1/supervisor/agents/b1/logout", "", why, 401, "Authorization"},
		{"another service's agent", "/v1/supervisor/agents/b1/not-ready", "tok-sup", why, 404, ""},
		{"an unknown agent", "/v1/supervisor/agents/zz/logout", "tok-boss", why, 404, ""},
		{"no why", "/v1/supervisor/agents/a1/not-ready", "tok-sup", map[string]string{"reason": "Coaching"}, 400, "why"},
		{"a bad id", "/v1/supervisor/agents/%20x/logout", "tok-sup", why, 400, "agent"},
	} {
		h := map[string]string{}
		if c.token != "" {
			h = bearer(c.token)
		}
		var p problemBody
		if res := env.DoWith("POST", c.path, h, c.body, &p); res.StatusCode != c.want || p.Field != c.field {
			t.Errorf("%s: %d field %q, want %d %q", c.name, res.StatusCode, p.Field, c.want, c.field)
		}
	}
	if n := env.Stored(); n != before {
		t.Fatalf("refused, yet %d events were stored", n-before)
	}

	if res := env.DoWith("POST", "/v1/supervisor/agents/a1/not-ready", bearer("tok-sup"), why, nil); res.StatusCode != 200 {
		t.Fatalf("not ready: %d", res.StatusCode)
	}
	evs := env.Events("agent-session-a1")
	sc, _ := evs[len(evs)-1].(*agentv1.AgentStateChanged)
	if sc.GetState() != agentv1.AgentState_AGENT_STATE_NOT_READY || sc.GetReason() != "Coaching" || sc.GetBy() != "sup" || sc.GetWhy() != "queue review at 10" {
		t.Errorf("forced Not Ready recorded as %v", sc)
	}
	if res := env.DoWith("POST", "/v1/supervisor/agents/b1/logout", bearer("tok-boss"), map[string]string{"why": "left for the day"}, nil); res.StatusCode != 200 {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	evs = env.Events("agent-session-b1")
	out, _ := evs[len(evs)-1].(*agentv1.AgentLoggedOut)
	if out.GetBy() != "boss" || out.GetWhy() != "left for the day" {
		t.Errorf("forced logout recorded as %v", out)
	}
	waitFor(t, "the board shows both", func() bool {
		env.DoWith("GET", "/v1/supervisor/summary", bearer("tok-boss"), nil, &all)
		return len(all.AgentRows) == 2 && all.AgentRows[0].State == "NOT_READY" && all.AgentRows[1].State == "LOGGED_OUT"
	})
}

// A supervisor's Not Ready for an agent on a call does not cut the call:
// it waits for it, shown as pending, and is what the agent becomes instead
// of Ready once they click Done (issue 14).
func TestSupervisorNotReadyWaitsForTheCall(t *testing.T) {
	env := start(t)
	iid, callID := connected(t, env, "a1")
	why := map[string]string{"reason": "Coaching", "why": "queue review at 10"}
	var v agentView
	if res := env.Do("POST", "/v1/supervisor/agents/a1/not-ready", why, &v); res.StatusCode != 200 {
		t.Fatalf("not ready mid-call: %d", res.StatusCode)
	}
	wc := v.Channels["webcallback"]
	if wc.State != "BUSY" || wc.Pending == nil || wc.Pending.State != "NOT_READY" || wc.Pending.Reason != "Coaching" {
		t.Fatalf("the answer: %+v (pending %+v), want Busy with Not Ready pending", wc, wc.Pending)
	}
	pending := servicetest.WaitEvent[*agentv1.AgentStatePending](env, agent.Stream("a1"))
	if pending.Why != "queue review at 10" {
		t.Errorf("pending recorded as %v", pending)
	}
	// The call goes on: the agent ends it, sets the code and clicks Done.
	path := "/v1/interactions/" + iid
	end := post(env, path+"/end-call", nil)
	servicetest.WaitEvent[*agentv1.HangupRequested](env, interaction.Stream(iid))
	gateway(env, callID, &mediav1.CallEnded{CallId: callID, InteractionId: iid, Reason: "hangup requested"})
	if a := await(t, end); a.res.StatusCode != 200 {
		t.Fatalf("end call: %d %+v", a.res.StatusCode, a.p)
	}
	env.Append("disposition-interaction-"+iid, "disp-"+iid, &dispositionv1.DispositionSet{InteractionId: iid, Code: "resolved"})
	waitStatus(t, env, iid, func(v interactionView) bool { return v.Disposition == "resolved" })
	if res := env.Do("POST", path+"/done", nil, nil); res.StatusCode != 200 {
		t.Fatalf("done: %d", res.StatusCode)
	}
	// No After Call Work here: Not Ready at once, with the supervisor's word.
	waitAgent(t, env, "a1", func(a agentView) bool {
		c := a.Channels["webcallback"]
		return c.State == "NOT_READY" && c.Reason == "Coaching" && c.Pending == nil
	})
	evs := env.Events(agent.Stream("a1"))
	sc, _ := evs[len(evs)-1].(*agentv1.AgentStateChanged)
	// (No by: an open platform's supervisor has no name.)
	if sc.GetWhy() != "queue review at 10" || sc.GetCause() != agentv1.StateCause_STATE_CAUSE_SUPERVISOR {
		t.Errorf("the Not Ready set after the call: %v", sc)
	}
}
