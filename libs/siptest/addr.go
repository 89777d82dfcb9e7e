package siptest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
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
//
// The port is picked below the kernel's ephemeral range, not by binding
// port 0: a port from that range, released for the process under test to
// bind, is the next one the kernel hands to any outgoing connection of a
// test running beside it, and the process then fails with "address already
// in use". Below the range only another explicit pick can take it.
func FindFreeAddr() (string, error) {
	lo, hi := pickRange()
	for range 200 {
		addr := fmt.Sprintf("127.0.0.1:%d", lo+rand.IntN(hi-lo))
		c, err := net.ListenPacket("udp4", addr)
		if err != nil {
			continue
		}
		l, err := net.Listen("tcp4", addr)
		c.Close()
		if err == nil {
			l.Close()
			return addr, nil
		}
	}
	return "", errors.New("no port free for both UDP and TCP")
}

// FreeTCPAddr is a 127.0.0.1 host:port free for TCP, picked as FindFreeAddr
// picks (an HTTP listener's).
func FreeTCPAddr() (string, error) {
	lo, hi := pickRange()
	for range 200 {
		addr := fmt.Sprintf("127.0.0.1:%d", lo+rand.IntN(hi-lo))
		l, err := net.Listen("tcp4", addr)
		if err == nil {
			l.Close()
			return addr, nil
		}
	}
	return "", errors.New("no TCP port free")
}

// pickRange is [lo, hi): from 10000 to the start of the ephemeral range
// (32768 on Linux unless the machine says otherwise).
func pickRange() (int, int) {
	lo, hi := 10000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var first, last int
		if n, _ := fmt.Sscan(string(b), &first, &last); n == 2 && first > lo+1000 {
			hi = first
		}
	}
	return lo, hi
}
