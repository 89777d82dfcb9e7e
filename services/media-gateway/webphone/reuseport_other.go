//go:build !linux

package webphone

import "syscall"

// reusePortWorks: elsewhere one socket reads the port.
const reusePortWorks = false

func reusePort(string, string, syscall.RawConn) error { return nil }
