package bench

import "syscall"

// dieWithParent has the kernel kill the platform if this process dies
// without stopping it (a -timeout panic, a kill): no ringback outlives a
// benchmark.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
