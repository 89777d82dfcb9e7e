package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The services file feeds the router, the scheduler and agent-session; the
// flags it replaces are refused beside it with a message naming the
// replacement, and errors name the file, the service and the field.
func TestServicesFile(t *testing.T) {
	sample := filepath.Join("..", "..", "deploy", "samples", "services.yaml")
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("services: {support: {retry: {busy: {attempts: 0}}}}"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string // "" for accepted
	}{
		{[]string{"--services", sample}, ""},
		{[]string{"--services", sample, "--scheduler.office-hours", "support=Mon-Fri 08:00-20:00"}, "replaced by office_hours"},
		{[]string{"--services", sample, "--router.services", "support=priority:3"}, "replaced by skills, priority"},
		{[]string{"--services", bad}, "services file " + bad + ": service support: retry.busy.attempts"},
		{[]string{"--services", "/nonexistent.yaml"}, "--services: services file"},
	} {
		cfg, err := parse(c.args, noEnv, &bytes.Buffer{})
		if err == nil {
			ts, _ := resolve(cfg.Targets)
			err = cfg.Validate(ts)
		}
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v, want accepted", c.args, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: %v, want an error saying %q", c.args, err, c.want)
		}
		if c.want == "" && err == nil {
			rules := cfg.Router.Rules()
			if s := rules.Service("support"); s.Priority != 5 || s.OfferTimeout != 15*time.Second || s.Skills["billing"] != 3 {
				t.Errorf("router rules from the file: %+v", s)
			}
			if cfg.Scheduler.ServiceSet == nil || cfg.AgentSession.ServiceSet == nil || cfg.Scheduler.WindowGiven {
				t.Errorf("scheduler and agent-session must get the file, and its windows")
			}
		}
	}
}
