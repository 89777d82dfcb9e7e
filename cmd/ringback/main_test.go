package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func noEnv(string) string { return "" }

func TestBadCommandLinesAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"launch"},
		{"serve", "--bogus"},
		{"serve", "--target", "router,billing"},
		{"serve", "--bus", "carrier-pigeon"},
		{"serve", "--http", "8080"},
		{"serve", "--target", "router"}, // a subset of services on the in-process bus
		{"serve", "--router.offer-timeout", "soon"},
		{"serve", "extra"},
		{"serve", "--agent-session.require-disposition=false"}, // replaced by --disposition.required
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, noEnv, &out, &errOut)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: err = %v, want a usage error (exit 2)", args, err)
		}
	}
}

// TestDispositionRuleHasOneFlag (issue 13): --disposition.required is
// what the desktop shows and what Done enforces; the flag it replaced is
// refused naming it, from the command line and from the environment.
func TestDispositionRuleHasOneFlag(t *testing.T) {
	for _, v := range []string{"true", "false"} {
		cfg, err := parse([]string{"--disposition.required=" + v}, noEnv, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.AgentSession.RequireDisposition != cfg.Disposition.Required || fmt.Sprint(cfg.Disposition.Required) != v {
			t.Errorf("--disposition.required=%s: agent-session enforces %v, the desktop shows %v", v, cfg.AgentSession.RequireDisposition, cfg.Disposition.Required)
		}
	}
	env := func(k string) string {
		if k == "RINGBACK_AGENT_SESSION_REQUIRE_DISPOSITION" {
			return "false"
		}
		return ""
	}
	var errOut bytes.Buffer
	_, err := parse(nil, env, &errOut)
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "disposition.required") {
		t.Errorf("the replaced flag in the environment: %v, want a usage error naming --disposition.required", err)
	}
}

func TestListTargetsNeedsNoConfiguration(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"serve", "--list-targets"}, noEnv, &out, &out); err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(out.String()); strings.Join(got, ",") != "intake,scheduler,router,agent-session,media-gateway,history,disposition" {
		t.Fatalf("targets: %v", got)
	}
}

func TestEnvironmentSetsFlagsTheCommandLineWins(t *testing.T) {
	env := map[string]string{"RINGBACK_SIP_TRUNK": "10.1.2.3:5060", "RINGBACK_BUS": "kafka", "RINGBACK_ROUTER_OFFER_TIMEOUT": "20s"}
	cfg, err := parse([]string{"--bus", "inproc"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SIPTrunk != "10.1.2.3:5060" || cfg.Media.Trunk != "10.1.2.3:5060" || cfg.Bus != "inproc" || cfg.Router.OfferTimeout.String() != "20s" {
		t.Fatalf("config: trunk %q bus %q offer timeout %v", cfg.SIPTrunk, cfg.Bus, cfg.Router.OfferTimeout)
	}
	env["RINGBACK_HTTP"] = "nowhere"
	cfg, err = parse(nil, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err == nil {
		ts, _ := resolve(cfg.Targets)
		err = cfg.Validate(ts)
	}
	var ue *usageError
	if !errors.As(err, &ue) {
		t.Fatalf("bad RINGBACK_HTTP: %v", err)
	}
}

// TestKafkaWithEmbeddedStoreIsRefused: each process on its own disk loses
// data on Kafka; the binary says so and what to use, unless told it is a
// one-machine trial.
func TestKafkaWithEmbeddedStoreIsRefused(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string // "" for accepted
	}{
		{[]string{"--bus", "kafka", "--target", "intake"}, "--eventstore=postgres://"},
		{[]string{"--bus", "kafka", "--target", "intake", "--allow-embedded-with-kafka"}, ""},
		{[]string{"--bus", "kafka", "--target", "intake", "--eventstore", "postgres://db/ringback"}, ""},
		{[]string{"--bus", "kafka", "--target", "intake", "--eventstore", "kurrentdb://db:2113?tls=false"}, ""},
		{[]string{"--bus", "kafka", "--target", "intake", "--eventstore", "mysql://db"}, "--eventstore: want"},
		{[]string{}, ""}, // make run: one process, embedded, in-process bus
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
	}
}
