package personal

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// noTmpfile is set once the file system refuses O_TMPFILE: putTemp then.
var noTmpfile atomic.Bool

// put is putTemp with an unnamed file (O_TMPFILE) given its name at once
// by linkat: no name is made and removed under tmp for each put, and the
// puts of concurrent callbacks no longer contend for that directory (its
// creates were a sixth of the CPU of taking callbacks: issue 12).
func (d *Dir) put(ns, name string, v []byte) error {
	if noTmpfile.Load() {
		return d.putTemp(ns, name, v)
	}
	fd, err := unix.Open(filepath.Join(d.root, ns), unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL) {
		noTmpfile.Store(true)
		return d.putTemp(ns, name, v)
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: filepath.Join(d.root, ns), Err: err}
	}
	f := os.NewFile(uintptr(fd), "tmpfile")
	defer f.Close()
	if _, err := f.Write(v); err != nil {
		return err
	}
	if err := f.Sync(); err != nil { // the key must outlive a crash once data is sealed with it
		return err
	}
	err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, d.path(ns, name), unix.AT_SYMLINK_FOLLOW)
	switch {
	case errors.Is(err, unix.EEXIST):
		return os.ErrExist
	case errors.Is(err, unix.ENOENT):
		// No /proc to name the file by: the file system's way it is.
		noTmpfile.Store(true)
		return d.putTemp(ns, name, v)
	case err != nil:
		return &os.LinkError{Op: "linkat", Old: "O_TMPFILE", New: d.path(ns, name), Err: err}
	}
	return nil
}

// syncData flushes f's data and the metadata needed to read it back (its
// size), skipping timestamps: fdatasync, as durable for a file appended to.
func syncData(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
