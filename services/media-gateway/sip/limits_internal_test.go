package sip

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"
)

// TestLimitedConnDeadlines: an accepted connection that says nothing is
// cut after the first-read timeout, one that went quiet after the idle
// timeout; closing it gives its source's slot back.
func TestLimitedConnDeadlines(t *testing.T) {
	raw, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := newSourceCounter("connections", 1, "", slog.New(slog.DiscardHandler))
	l := conns.wrap(raw).(*limitedListener)
	l.firstRead, l.idle = 50*time.Millisecond, 100*time.Millisecond
	defer l.Close()

	accept := func(send []byte) net.Conn {
		t.Helper()
		c, err := net.Dial("tcp4", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if send != nil {
			if _, err := c.Write(send); err != nil {
				t.Fatal(err)
			}
		}
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	silent := accept(nil)
	if _, err := silent.Read(make([]byte, 16)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a silent connection: read %v, want the deadline", err)
	}
	if conns.held["127.0.0.1"] != 1 {
		t.Errorf("held %d before close, want 1", conns.held["127.0.0.1"])
	}
	silent.Close()
	silent.Close() // twice: released once
	if n := conns.held["127.0.0.1"]; n != 0 {
		t.Fatalf("held %d after close, want 0", n)
	}

	talker := accept([]byte("OPTIONS"))
	if n, err := talker.Read(make([]byte, 16)); err != nil || n == 0 {
		t.Fatalf("first read: %d, %v", n, err)
	}
	if _, err := talker.Read(make([]byte, 16)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a connection gone quiet: read %v, want the idle deadline", err)
	}
	talker.Close()
}
