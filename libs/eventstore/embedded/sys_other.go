//go:build !unix

package embedded

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// ErrLocked is returned by Open when another Store holds the directory.
var ErrLocked = errors.New("event store directory in use")

// lockDir fails: without flock two processes could interleave their writes.
func lockDir(string) (*os.File, error) {
	return nil, fmt.Errorf("lock: not supported on %s", runtime.GOOS)
}

func syncDir(string) error { return nil }
