package service_test

import (
	"os"
	"syscall"
)

// syncData is what the embedded store calls after an append on Linux.
func syncData(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
