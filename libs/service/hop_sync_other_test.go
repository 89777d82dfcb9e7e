//go:build !linux

package service_test

import "os"

// syncData is what the embedded store calls after an append elsewhere.
func syncData(f *os.File) error { return f.Sync() }
