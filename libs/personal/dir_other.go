//go:build !linux

package personal

import (
	"os"
	"sync/atomic"
)

func (d *Dir) put(ns, name string, v []byte) error { return d.putTemp(ns, name, v) }

// noTmpfile: no unnamed files here (BenchmarkDirPut sets it).
var noTmpfile atomic.Bool

// syncData flushes f.
func syncData(f *os.File) error { return f.Sync() }
