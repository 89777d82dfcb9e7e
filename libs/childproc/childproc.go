// Package childproc ties the processes a test starts (the platform's
// replicas, sipp) to the test's own life: when the test binary dies without
// its cleanups (go test's -timeout panic, a kill), they die with it instead
// of running on as orphans that load the machine under the next run.
package childproc

import "os/exec"

// DieWithParent makes cmd, not started yet, killed (SIGKILL) when the
// process that starts it ends, where the system offers it (Linux); elsewhere
// it does nothing. Go's runtime does not end the threads that start
// children, which Linux's parent-death signal follows.
func DieWithParent(cmd *exec.Cmd) { dieWithParent(cmd) }
