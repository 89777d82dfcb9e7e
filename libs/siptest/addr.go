package siptest

import (
	"errors"
	"fmt"
	"net"
	"testing"
)

// FreeAddr is a 127.0.0.1 host:port free for UDP and TCP both, for a
// gateway to listen on: SIP listens on both by default, and a port free on
// one is often taken on the other.
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := FindFreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// FindFreeAddr is FreeAddr for code outside a test's body (a benchmark's
// helpers).
func FindFreeAddr() (string, error) {
	for range 100 {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("free address: %w", err)
		}
		addr := c.LocalAddr().String()
		l, err := net.Listen("tcp4", addr)
		c.Close()
		if err == nil {
			l.Close()
			return addr, nil
		}
	}
	return "", errors.New("no port free for both UDP and TCP")
}
