package serviceconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/callwindow"
	"github.com/ringback/ringback/libs/officehours"
)

func TestSampleFileLoads(t *testing.T) {
	set, err := Load(filepath.Join("..", "..", "deploy", "samples", "services.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sup := set.Of("support")
	if sup.Priority != 5 || sup.Skills["billing"] != 3 || sup.OfferTimeout != 15*time.Second {
		t.Errorf("routing of support: %+v", sup)
	}
	if sup.Hours.Location().String() != "Europe/Paris" || !sup.Hours.Holidays[officehours.Date{Year: 2026, Month: 12, Day: 25}] {
		t.Errorf("hours of support: %+v", sup.Hours)
	}
	if sup.Window != (callwindow.Window{Start: 9 * time.Hour, End: 20 * time.Hour}) {
		t.Errorf("window %v", sup.Window)
	}
	if sup.TTL != 24*time.Hour || sup.BookAhead != 14*24*time.Hour {
		t.Errorf("ttl %s book ahead %s: want 24h and the 14d of *", sup.TTL, sup.BookAhead)
	}
	if c := sup.Capacity; c == nil || c.Bucket != 30*time.Minute || c.PerBucket[time.Saturday] != 4 || c.PerBucket[time.Monday] != 10 || c.Move {
		t.Errorf("capacity %+v", sup.Capacity)
	}
	if p, ok := sup.Retry.For(Busy); !ok || p.Attempts != 3 || p.Then != ThenScheduler || p.DelayBefore(3) != 10*time.Minute {
		t.Errorf("busy policy %+v", p)
	}
	if p := sup.Retry.Dispositions["Call back later"]; p.Attempts != 2 || p.Delay != 2*time.Hour {
		t.Errorf("disposition policy %+v", p)
	}
	// sales sets only busy: no_answer keeps the default.
	sales := set.Of("sales")
	if !sup.Conference.AgentMayLeave || sales.Conference.AgentMayLeave {
		t.Errorf("conference.agent_may_leave: support %v, sales %v; want true, false (the default)",
			sup.Conference.AgentMayLeave, sales.Conference.AgentMayLeave)
	}
	if p, _ := sales.Retry.For(Busy); p.Then != ThenAgent || p.Attempts != 5 {
		t.Errorf("sales busy %+v", p)
	}
	if p, _ := sales.Retry.For(NoAnswer); p != Defaults.Retry.Outcomes[NoAnswer] {
		t.Errorf("sales no_answer %+v, want the default", p)
	}
	if rs := sup.Responses; len(rs) != 3 || rs[0].Name != "Greeting" || rs[2].Tags[1] != "refund" {
		t.Errorf("responses of support: %+v", rs)
	}
	// A service not listed gets "*": its TTL of 3d, the default window.
	other := set.Of("billing")
	if other.TTL != 72*time.Hour || other.Window != callwindow.Default || other.Name != "billing" {
		t.Errorf("unlisted service %+v", other)
	}
}

func TestNilSetIsTheDefaults(t *testing.T) {
	var set *Set
	s := set.Of("x")
	if s.Window != callwindow.Default || s.TTL != Defaults.TTL || s.Name != "x" {
		t.Errorf("%+v", s)
	}
	if _, ok := s.Retry.For(Busy); !ok {
		t.Error("retries must be on by default")
	}
}

func TestErrorsNameServiceAndField(t *testing.T) {
	cases := []struct{ doc, want string }{
		{`services: {support: {priority: 2000}}`, "service support: priority: 2000"},
		{`services: {support: {skills: {billing: 11}}}`, "service support: skills.billing: level 11"},
		{`services: {support: {office_hours: {zone: Europe/Paris, open: ["Mon-Fry 08:00-20:00"]}}}`, `service support: office_hours.open: day "Fry"`},
		{`services: {support: {office_hours: {open: ["Mon-Fri 08:00-20:00"]}}}`, "service support: office_hours.zone: required"},
		{`services: {support: {office_hours: {zone: Mars/Olympus}}}`, "service support: office_hours.zone"},
		{`services: {support: {office_hours: {zone: UTC, holidays: ["25/12/2026"]}}}`, "service support: office_hours.holidays[0]: date"},
		{`services: {support: {office_hours: {zone: UTC, special_days: {"2026-12-24": ["13:00-08:00"]}}}}`, "service support: office_hours.special_days.2026-12-24[0]"},
		{`services: {support: {calling_window: "21:00-08:00"}}`, "service support: calling_window"},
		{`services: {support: {capacity: {bucket: 7m, per_bucket: 3}}}`, "service support: capacity.bucket: 7m0s"},
		{`services: {support: {capacity: {bucket: 30m, per_bucket: 3, weekdays: {funday: 2}}}}`, "service support: capacity.weekdays.funday"},
		{`services: {support: {capacity: {bucket: 30m, per_bucket: 3, when_full: drop}}}`, "service support: capacity.when_full"},
		{`services: {support: {retry: {busy: {attempts: 0}}}}`, "service support: retry.busy.attempts: 0"},
		{`services: {support: {retry: {busy: {attempts: 3, delay: 10s}}}}`, "service support: retry.busy.delay: 10s"},
		{`services: {support: {retry: {no_answer: {attempts: 3, delay: 5m, then: robot}}}}`, "service support: retry.no_answer.then"},
		{`services: {support: {retry: {dispositions: {Later: {attempts: 2, delay: 1h, then: agent}}}}}`, "service support: retry.dispositions.Later.then"},
		{`services: {support: {time_to_live: 10s}}`, "service support: time_to_live"},
		{`services: {support: {book_ahead: 400d}}`, "service support: book_ahead"},
		{`services: {support: {consent: "  "}}`, "service support: consent"},
		{`services: {support: {conference: {agent_may_leave: "yes"}}}`, "conference.agent_may_leave"},
		{`services: {support: {conference: {agent_may_stay: true}}}`, "agent_may_stay"},
		{`services: {Support: {}}`, `service "Support": a name`},
		{`services: {support: {priorty: 3}}`, `service "support": json: unknown field "priorty"`},
		{`services: {support: {responses: [{name: Hi, text: Hello, tone: warm}]}}`, `service "support": json: unknown field "tone"`},
		{`services: {support: {responses: [{text: Hello}]}}`, "service support: responses[0].name: required"},
		{`services: {support: {responses: [{name: Hi}]}}`, "service support: responses[0].text: required"},
		{`services: {support: {responses: [{name: Hi, text: a}, {name: hi, text: b}]}}`, `service support: responses[1].name: "hi" twice`},
		{`services: {support: {responses: [{name: Hi, text: a, tags: ["two words"]}]}}`, `service support: responses[0].tags[0]`},
		{`services: {support: {responses: {name: Hi}}}`, `service "support": field responses`},
		{`services: {"*": {responses: [{name: "", text: a}]}}`, `service "*": responses[0].name: required`},
		{`services: {support: {priority: high}}`, "priority"},
		{`services: {support: {offer_timeout: soon}}`, "duration"},
		{`{}`, `no "services"`},
		{"services: [", "not YAML or JSON"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.doc), time.LoadLocation)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got %v\nwant …%s…", c.doc, err, c.want)
		}
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "svc.yaml")
	if err := os.WriteFile(p, []byte(`services: {support: {priority: -1}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), "services file "+p+": service support: priority") {
		t.Fatalf("got %v", err)
	}
}

func TestDelayBefore(t *testing.T) {
	grow := Policy{Attempts: 6, Delay: 5 * time.Minute, Backoff: 2, MaxDelay: 30 * time.Minute}
	fixed := Policy{Attempts: 3, Delay: 10 * time.Minute, Backoff: 1}
	cases := []struct {
		p    Policy
		n    int
		want time.Duration
	}{
		{grow, 2, 5 * time.Minute}, {grow, 3, 10 * time.Minute}, {grow, 4, 20 * time.Minute},
		{grow, 5, 30 * time.Minute}, {grow, 6, 30 * time.Minute},
		{fixed, 2, 10 * time.Minute}, {fixed, 3, 10 * time.Minute},
	}
	for _, c := range cases {
		if got := c.p.DelayBefore(c.n); got != c.want {
			t.Errorf("%+v attempt %d: %s, want %s", c.p, c.n, got, c.want)
		}
	}
}

func TestJSONIsAccepted(t *testing.T) {
	set, err := Parse([]byte(`{"services": {"support": {"time_to_live": "2h", "retry": {"busy": {"attempts": 1}}}}}`), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	if s := set.Of("support"); s.TTL != 2*time.Hour {
		t.Errorf("ttl %s", s.TTL)
	} else if _, ok := s.Retry.For(Busy); ok {
		t.Error("attempts 1 means never again")
	}
}
