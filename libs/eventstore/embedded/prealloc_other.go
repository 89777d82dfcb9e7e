//go:build !linux

package embedded

import (
	"errors"
	"os"
)

// preallocate is fallocate on Linux; elsewhere the log grows with each
// write.
func preallocate(*os.File, int64, int64) error { return errors.ErrUnsupported }
