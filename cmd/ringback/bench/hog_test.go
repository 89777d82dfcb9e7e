package bench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/ringback/ringback/libs/childproc"
)

// hogEnv makes this test binary a CPU hog instead of a test run: the thin
// path's figure must hold with another CPU-bound process beside it
// (issue 13), and a copy of the binary spinning is one with no other
// dependency.
const hogEnv = "RINGBACK_BENCH_HOG_CHILD"

// TestCPUHog is not a test: run by startHogs (with hogEnv set) it spins
// until killed; otherwise it skips.
func TestCPUHog(t *testing.T) {
	if os.Getenv(hogEnv) != "1" {
		t.Skip("a CPU hog for the benchmarks, started by them")
	}
	var sum [32]byte
	for {
		sum = sha256.Sum256(sum[:])
	}
}

// hogs is how many CPU-bound processes run beside the platform during the
// measured calls: RINGBACK_BENCH_HOGS (0).
func hogs() (int, error) {
	v := os.Getenv("RINGBACK_BENCH_HOGS")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 64 {
		return 0, fmt.Errorf("RINGBACK_BENCH_HOGS=%q: want 0..64 processes", v)
	}
	return n, nil
}

// startHogs starts n CPU-bound processes (this binary, spinning); stop
// kills them and waits.
func startHogs(ctx context.Context, n int) (stop func(), err error) {
	var cmds []*exec.Cmd
	stop = func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}
	for range n {
		c := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCPUHog$", "-test.count=1")
		c.Env = append(os.Environ(), hogEnv+"=1")
		childproc.DieWithParent(c)
		if err := c.Start(); err != nil {
			stop()
			return nil, fmt.Errorf("start a CPU hog: %w", err)
		}
		cmds = append(cmds, c)
	}
	return stop, nil
}
