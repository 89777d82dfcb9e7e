package main

import (
	"bytes"
	"errors"
	"testing"
)

// --gc-percent sets the collector unless the environment's GOGC stands;
// out of range, it is a usage error.
func TestGCPercent(t *testing.T) {
	for _, c := range []struct {
		args    []string
		env     map[string]string
		percent int
		fromEnv bool
		bad     bool
	}{
		{percent: defaultGCPercent},
		{args: []string{"--gc-percent", "100"}, percent: 100},
		{env: map[string]string{"RINGBACK_GC_PERCENT": "300"}, percent: 300},
		{env: map[string]string{"GOGC": "50"}, percent: defaultGCPercent, fromEnv: true},
		{args: []string{"--gc-percent", "150"}, env: map[string]string{"GOGC": "50"}, percent: 150},
		{args: []string{"--gc-percent", "0"}, bad: true},
		{args: []string{"--gc-percent", "5000"}, bad: true},
	} {
		cfg, err := parse(c.args, func(k string) string { return c.env[k] }, &bytes.Buffer{})
		if err != nil {
			t.Fatalf("%v %v: %v", c.args, c.env, err)
		}
		ts, _ := resolve(cfg.Targets)
		err = cfg.Validate(ts)
		var ue *usageError
		if c.bad != errors.As(err, &ue) {
			t.Errorf("%v %v: %v, want a usage error: %v", c.args, c.env, err, c.bad)
		}
		if !c.bad && (cfg.GCPercent != c.percent || cfg.gcFromEnv != c.fromEnv) {
			t.Errorf("%v %v: percent %d from env %v; want %d %v", c.args, c.env, cfg.GCPercent, cfg.gcFromEnv, c.percent, c.fromEnv)
		}
	}
}
