//go:build !linux

package bench

import "syscall"

// dieWithParent: only Linux can tie a child's life to ours; elsewhere a
// platform outliving a killed benchmark must be stopped by hand.
func dieWithParent() *syscall.SysProcAttr { return nil }
