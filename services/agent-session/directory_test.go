package agentsession

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

const guideServices = `services:
  "*":
    responses:
      - {name: Greeting, text: "Hello, this is ringback returning your call.", tags: [opening]}
  support:
    responses:
      - {name: Refund policy, text: "Refunds are paid within 14 days.", tags: [billing]}
  sales:
    skills: {english: 1}
`

func guideSet(t *testing.T) *serviceconf.Set {
	t.Helper()
	set, err := serviceconf.Parse([]byte(guideServices), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func startGuide(t *testing.T) *servicetest.Env {
	t.Helper()
	return startWith(t, Config{CommandWait: 5 * time.Second, CallingWindow: "00:00-24:00", WindowGiven: true, ServiceSet: guideSet(t)})
}

func TestResponsesOfAServiceSearched(t *testing.T) {
	env := startGuide(t)
	type answer struct {
		Service   string
		Responses []struct {
			Name, Text string
			Tags       []string
		}
	}
	names := func(a answer) []string {
		var out []string
		for _, r := range a.Responses {
			out = append(out, r.Name)
		}
		return out
	}
	cases := []struct {
		query string
		want  []string
	}{
		{"service=support", []string{"Greeting", "Refund policy"}},
		{"service=support&q=refund", []string{"Refund policy"}},
		{"service=support&q=BILLING", []string{"Refund policy"}}, // a tag
		{"service=support&q=nothing+like+it", nil},
		{"service=sales", []string{"Greeting"}},   // "*"'s only
		{"service=unknown", []string{"Greeting"}}, // as every other field: "*"
	}
	for _, c := range cases {
		var a answer
		if st := env.Get("/v1/responses?"+c.query, &a); st != 200 {
			t.Fatalf("%s: %d", c.query, st)
		}
		if got := names(a); !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, want %q", c.query, got, c.want)
		}
	}
	for _, c := range []struct{ query, field string }{
		{"", "service"}, {"service=Support!", "service"}, {"service=support&q=" + strings.Repeat("x", 101), "q"},
	} {
		var p problemBody
		res := env.Do("GET", "/v1/responses?"+c.query, nil, &p)
		if res.StatusCode != 400 || p.Field != c.field || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%q: %d %q %+v, want a 400 problem naming %s", c.query, res.StatusCode, res.Header.Get("Content-Type"), p, c.field)
		}
	}
}

type directoryBody struct {
	Agents []struct {
		ID, Name, State, Reason string
	}
	Services []struct {
		Name  string
		Ready int
		Agent string
	}
	Numbers []struct {
		PhoneNumber string `json:"phone_number"`
		Purpose     string
	}
}

func directoryOf(t *testing.T, env *servicetest.Env, as, q string) directoryBody {
	t.Helper()
	var d directoryBody
	res := env.DoWith("GET", "/v1/directory?q="+q, map[string]string{"X-Ringback-Agent": as}, nil, &d)
	if res.StatusCode != 200 {
		t.Fatalf("directory as %s, q %q: %d", as, q, res.StatusCode)
	}
	return d
}

func TestTeamCommunicatorListsAgentsServicesAndRecentNumbers(t *testing.T) {
	env := startGuide(t)
	iid, _ := connected(t, env, "a1")
	readyAgent(t, env, "a2")
	readyAgent(t, env, "a3")
	env.Do("PUT", "/v1/agents/a3/state", map[string]string{"channel": "webcallback", "state": "NOT_READY", "reason": "Lunch"}, nil)
	// a1 consults a number: the Team Communicator recalls it, from the store.
	post(env, "/v1/interactions/"+iid+"/consult", map[string]string{"phone_number": "+14155550100"})
	servicetest.WaitEvent[*agentv1.ConsultRequested](env, interaction.Stream(iid))

	var d directoryBody
	waitFor(t, "the consult and a3's state in the directory", func() bool {
		d = directoryOf(t, env, "a1", "")
		return len(d.Numbers) == 1 && len(d.Agents) == 2 && d.Agents[1].State == "NOT_READY"
	})
	if d.Agents[0].ID != "a2" || d.Agents[0].State != "READY" || d.Agents[1].ID != "a3" || d.Agents[1].Reason != "Lunch" {
		t.Errorf("agents, Ready first and never the caller: %+v", d.Agents)
	}
	if d.Numbers[0].PhoneNumber != "+14155550100" || d.Numbers[0].Purpose != "consult" {
		t.Errorf("recent numbers: %+v", d.Numbers)
	}
	// support needs no skill: a2 is Ready for it; sales needs english.
	want := []string{"sales 0 ", "support 1 a2"}
	var got []string
	for _, s := range d.Services {
		b, _ := json.Marshal(s.Ready)
		got = append(got, s.Name+" "+string(b)+" "+s.Agent)
	}
	if !slices.Equal(got, want) {
		t.Errorf("services %q, want %q", got, want)
	}
	// A search: every word in an id or a name, a service's name, a number.
	if d := directoryOf(t, env, "a1", "A3"); len(d.Agents) != 1 || d.Agents[0].ID != "a3" || len(d.Services) != 0 || len(d.Numbers) != 0 {
		t.Errorf("q=A3: %+v", d)
	}
	if d := directoryOf(t, env, "a1", "not+ready"); len(d.Agents) != 1 || d.Agents[0].ID != "a3" {
		t.Errorf("q=not ready: %+v", d.Agents)
	}
	if d := directoryOf(t, env, "a1", "5550100"); len(d.Agents) != 0 || len(d.Numbers) != 1 {
		t.Errorf("q=5550100: %+v", d)
	}
	// The numbers are the caller's own.
	if d := directoryOf(t, env, "a2", ""); len(d.Numbers) != 0 {
		t.Errorf("a2 sees a1's numbers: %+v", d.Numbers)
	}
	var p problemBody
	if res := env.Do("GET", "/v1/directory?q="+strings.Repeat("x", 101), nil, &p); res.StatusCode != 400 || p.Field != "q" {
		t.Errorf("a long q: %d %+v", res.StatusCode, p)
	}
}

// Any replica answers the same: a fresh one folds the states and the
// numbers from the store.
func TestTeamCommunicatorFromAnyReplica(t *testing.T) {
	env := startGuide(t)
	iid, _ := connected(t, env, "a1")
	readyAgent(t, env, "a2")
	post(env, "/v1/interactions/"+iid+"/transfer", map[string]string{"phone_number": "+14155550101"})
	servicetest.WaitEvent[*agentv1.TransferRequested](env, interaction.Stream(iid))

	r := startReplica(t, env, Config{CallingWindow: "00:00-24:00", WindowGiven: true, ServiceSet: guideSet(t)}, nil)
	var d directoryBody
	waitFor(t, "the other replica's directory", func() bool {
		req, _ := http.NewRequest("GET", r.srv.URL+"/v1/directory", nil)
		req.Header.Set("X-Ringback-Agent", "a1")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		d = directoryBody{}
		return res.StatusCode == 200 && json.NewDecoder(res.Body).Decode(&d) == nil && len(d.Numbers) == 1
	})
	if d.Numbers[0].PhoneNumber != "+14155550101" || d.Numbers[0].Purpose != "transfer" || len(d.Agents) != 1 || d.Agents[0].State != "READY" {
		t.Errorf("the other replica: %+v", d)
	}
}
