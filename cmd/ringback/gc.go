package main

import (
	"fmt"
	"runtime/debug"
)

// defaultGCPercent is --gc-percent's default. Go's 100 has the collector
// mark the live heap each time it doubles; the platform allocates a few
// hundred short-lived objects per callback over a live heap of tens of
// megabytes, so at 100 the collector took about a quarter of the CPU per
// accepted callback (issue 12). At 200 it marks half as often: in the
// intake bench its background marking per callback fell by about two
// thirds (35-40 µs to about 10 µs), for a heap up to three times the live
// one instead of twice. The deployments set GOMEMLIMIT to the container's
// limit, which makes the collector work harder only near that limit.
const defaultGCPercent = 200

// validateGC checks --gc-percent.
func (c *Config) validateGC() error {
	if c.GCPercent < 10 || c.GCPercent > 1000 {
		return fmt.Errorf("--gc-percent: must be 10 to 1000, got %d", c.GCPercent)
	}
	return nil
}

// applyGC sets the collector's GOGC from --gc-percent, unless the
// environment's GOGC stands (set, and the flag not given).
func (c *Config) applyGC() {
	if c.gcFromEnv {
		return
	}
	debug.SetGCPercent(c.GCPercent)
}
