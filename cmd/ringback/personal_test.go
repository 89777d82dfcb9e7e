package main

import (
	"errors"
	"testing"
)

// TestPersonalKeys: where keys live by default, per store and bus, and
// which --personal.keys are refused (issue 16 point 9).
func TestPersonalKeys(t *testing.T) {
	for _, c := range []struct {
		keys, store, bus, want string
	}{
		{"", "embedded", "inproc", "log:data/keys"},
		{"", "embedded", "kafka", "off"}, // each process's directory would be its own
		{"", "postgres", "kafka", "postgres"},
		{"", "esdb", "kafka", "off"},
		{"dir:/shared/keys", "esdb", "kafka", "dir:/shared/keys"},
		{"log:/data/keys", "embedded", "inproc", "log:/data/keys"},
		{"off", "postgres", "kafka", "off"},
	} {
		cfg := personalConfig{Keys: c.keys}
		if err := cfg.Validate(c.store); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
		if got := cfg.keysFor(c.store, c.bus, "data"); got != c.want {
			t.Errorf("%+v: keys %q, want %q", c, got, c.want)
		}
	}
	for _, c := range []struct{ keys, store string }{{"postgres", "embedded"}, {"dir:", "embedded"}, {"log:", "embedded"}, {"vault", "postgres"}} {
		var ue *usageError
		if err := (&personalConfig{Keys: c.keys}).Validate(c.store); !errors.As(err, &ue) {
			t.Errorf("--personal.keys=%q on %s: %v, want a usage error", c.keys, c.store, err)
		}
	}
}
