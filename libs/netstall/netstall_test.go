package netstall_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/netstall"
)

// TestHeldBytesFlowOnRelease: through a held gate nothing reaches the
// client; on release, what the server wrote arrives, on the same
// connection.
func TestHeldBytesFlowOnRelease(t *testing.T) {
	var g netstall.Gate
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := netstall.Listener(raw, &g)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c) // echo
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	echo := func() (string, error) {
		if _, err := c.Write([]byte("ping")); err != nil {
			return "", err
		}
		buf := make([]byte, 4)
		_, err := io.ReadFull(c, buf)
		return string(buf), err
	}
	if got, err := echo(); err != nil || got != "ping" {
		t.Fatalf("open gate: echo %q, %v", got, err)
	}
	release := g.Hold()
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if got, err := echo(); err == nil {
		t.Fatalf("held gate: echo %q came through", got)
	}
	release()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("after release: read %q, %v, want the held echo", buf, err)
	}
	if got, err := echo(); err != nil || got != "ping" {
		t.Fatalf("after release: echo %q, %v", got, err)
	}
}
