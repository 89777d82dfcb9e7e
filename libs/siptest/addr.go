package siptest

import (
	"net"
	"testing"
)

// FreeAddr is a 127.0.0.1 host:port free for UDP and TCP both, for a
// gateway to listen on: SIP listens on both by default, and a port free on
// one is often taken on the other.
func FreeAddr(t testing.TB) string {
	t.Helper()
	for range 100 {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := c.LocalAddr().String()
		l, err := net.Listen("tcp4", addr)
		c.Close()
		if err == nil {
			l.Close()
			return addr
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return ""
}
