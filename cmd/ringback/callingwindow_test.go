package main

import (
	"bytes"
	"io"
	"slices"
	"testing"
)

// The calling window is on by default (08:00-21:00 in the contact's time);
// --demo opens it around the clock, unless told otherwise.
func TestCallingWindowDefaultAndDemo(t *testing.T) {
	none := func(string) string { return "" }
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "08:00-21:00"},
		{[]string{"--demo"}, nil, "00:00-24:00"},
		{[]string{"--demo", "--scheduler.calling-window=09:00-20:00", "--agent-session.calling-window=09:00-20:00"}, nil, "09:00-20:00"},
		{[]string{"--demo"}, map[string]string{"RINGBACK_SCHEDULER_CALLING_WINDOW": "09:00-20:00",
			"RINGBACK_AGENT_SESSION_CALLING_WINDOW": "09:00-20:00"}, "09:00-20:00"},
	} {
		getenv := none
		if c.env != nil {
			getenv = func(k string) string { return c.env[k] }
		}
		cfg, err := parse(c.args, getenv, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Scheduler.CallingWindow != c.want || cfg.AgentSession.CallingWindow != c.want {
			t.Errorf("%v %v: scheduler %q, agent-session %q; want %q", c.args, c.env,
				cfg.Scheduler.CallingWindow, cfg.AgentSession.CallingWindow, c.want)
		}
	}
}

// TestDemoKnowsOneService (issue 12): the demo names its service, so any
// other name is refused there as on a configured platform; a services file
// or --router.services given still decides.
func TestDemoKnowsOneService(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--demo"}, []string{"support"}},
		{[]string{"--demo", "--router.services=sales=priority:1"}, []string{"sales"}},
		{nil, nil},
	} {
		cfg, err := parse(c.args, noEnv, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := resolve(cfg.Targets)
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(ts); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cfg.Intake.Services, c.want) {
			t.Errorf("%v: intake knows %v, want %v", c.args, cfg.Intake.Services, c.want)
		}
	}
}
