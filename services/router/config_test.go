package router_test

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/services/router"
	"github.com/ringback/ringback/services/router/queue"
)

func parse(args ...string) (router.Config, error) {
	var cfg router.Config
	fs := flag.NewFlagSet("router", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func TestServicesFlag(t *testing.T) {
	cfg, err := parse("--router.services", "support=skills:billing>=3, english;priority:5;offer-timeout:20s;support-vip=skills:english>=8;priority:9",
		"--router.services", "sales=priority:1")
	if err != nil {
		t.Fatal(err)
	}
	want := router.Services{
		"support":     {Skills: map[string]int32{"billing": 3, "english": 1}, Priority: 5, OfferTimeout: 20 * time.Second},
		"support-vip": {Skills: map[string]int32{"english": 8}, Priority: 9},
		"sales":       {Priority: 1},
	}
	if !reflect.DeepEqual(cfg.Services, want) {
		t.Fatalf("services = %+v, want %+v", cfg.Services, want)
	}
	r := cfg.Rules()
	if r.AgingStep != 30*time.Second || r.MissedOffers != 2 || r.OfferTimeout != 15*time.Second {
		t.Fatalf("defaults = %+v", r)
	}
	if got := r.Service("support-vip").OfferTimeout; got != 15*time.Second {
		t.Fatalf("support-vip timeout = %s, want the default", got)
	}
	if got := r.Service("unknown"); got.Priority != 0 || len(got.Skills) != 0 || got.OfferTimeout != 15*time.Second {
		t.Fatalf("unknown service = %+v", got)
	}
	// The flag prints what it parsed, and that parses back the same.
	again, err := parse("--router.services", cfg.Services.String())
	if err != nil || !reflect.DeepEqual(again.Services, cfg.Services) {
		t.Fatalf("round trip %q: %+v, %v", cfg.Services.String(), again.Services, err)
	}
}

func TestOldServiceTimeoutsStillWork(t *testing.T) {
	cfg, err := parse("--router.service-offer-timeouts", "sales=30s")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Rules().Service("sales").OfferTimeout; got != 30*time.Second {
		t.Fatalf("sales timeout = %s", got)
	}
}

func TestBadConfigIsRefused(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string // in the error
	}{
		{"attribute before a service", []string{"--router.services", "priority:5"}, "want name=attribute"},
		{"unknown attribute", []string{"--router.services", "support=colour:blue"}, `unknown attribute "colour"`},
		{"no colon", []string{"--router.services", "support=priority"}, "want key:value"},
		{"bad priority", []string{"--router.services", "support=priority:high"}, "priority"},
		{"negative priority", []string{"--router.services", "support=priority:-1"}, "priority -1"},
		{"priority too high", []string{"--router.services", "support=priority:1001"}, "priority 1001"},
		{"level too high", []string{"--router.services", "support=skills:billing>=11"}, "level 11"},
		{"level zero", []string{"--router.services", "support=skills:billing>=0"}, "level 0"},
		{"bad level", []string{"--router.services", "support=skills:billing>=x"}, "level"},
		{"bad skill", []string{"--router.services", "support=skills:bil ling"}, "skill"},
		{"skill twice", []string{"--router.services", "support=skills:billing,billing>=2"}, "twice"},
		{"attribute twice", []string{"--router.services", "support=priority:1;priority:2"}, "priority given twice"},
		{"service twice", []string{"--router.services", "support=priority:1", "--router.services", "support=priority:2"}, "given twice"},
		{"bad timeout", []string{"--router.services", "support=offer-timeout:soon"}, "offer-timeout"},
		{"zero timeout", []string{"--router.services", "support=offer-timeout:0s"}, "not positive"},
		{"long timeout", []string{"--router.services", "support=offer-timeout:11m"}, "offer-timeout 11m0s"},
		{"bad service name", []string{"--router.services", "Support=priority:1"}, "want name=attribute"},
		{"contradicting timeouts", []string{"--router.services", "sales=offer-timeout:20s",
			"--router.service-offer-timeouts", "sales=30s"}, "contradicts"},
		{"negative aging", []string{"--router.aging-step", "-1s"}, "router.aging-step"},
		{"negative missed offers", []string{"--router.missed-offers-not-ready", "-1"}, "router.missed-offers-not-ready"},
		{"zero default timeout", []string{"--router.offer-timeout", "0s"}, "router.offer-timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parse(c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one saying %q", err, c.want)
			}
		})
	}
}

func TestValidateChecksServicesBuiltInCode(t *testing.T) {
	cfg, err := parse()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Services = router.Services{"support": {Skills: map[string]int32{"billing": 42}}}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "router.services") {
		t.Fatalf("err = %v", err)
	}
	cfg.Services = router.Services{"support": {Priority: queue.MaxPriority}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// Aging and the missed-offer rule can be switched off.
	cfg.AgingStep, cfg.MissedOffersNotReady = 0, 0
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}
