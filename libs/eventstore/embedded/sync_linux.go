package embedded

import (
	"os"
	"syscall"
)

// syncData flushes f's data and the metadata needed to read it back (its
// size), skipping timestamps: fdatasync, cheaper than fsync and as durable
// for an append-only file.
func syncData(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
