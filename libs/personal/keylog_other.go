//go:build !unix

package personal

import (
	"errors"
	"os"
)

var errLocked = errors.New("locked")

// lockFile: no flock here, so one process must own the directory, as the
// embedded store's own lock (which fails here) requires anyway.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
