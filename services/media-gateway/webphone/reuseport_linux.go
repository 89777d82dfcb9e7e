package webphone

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePortWorks: Linux spreads a shared port's datagrams over its
// sockets by their addresses (SO_REUSEPORT), each browser's to one.
const reusePortWorks = true

func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}
