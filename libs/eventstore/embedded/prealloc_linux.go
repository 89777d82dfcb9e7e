package embedded

import (
	"errors"
	"os"
	"syscall"
)

// preallocate reserves [off, off+n) of f, its size growing to cover it:
// appends then write inside the file, and their fdatasync no longer has
// a new size to commit with each one (issue 13: 15 % less CPU and 25 %
// less time per sync on ext4). The reserved space reads as zeros, which
// opening takes for the end of the log.
// A filesystem that cannot reserve (EOPNOTSUPP) is errors.ErrUnsupported.
func preallocate(f *os.File, off, n int64) error {
	for {
		err := syscall.Fallocate(int(f.Fd()), 0, off, n)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOSYS):
			return errors.ErrUnsupported
		}
		return err
	}
}
