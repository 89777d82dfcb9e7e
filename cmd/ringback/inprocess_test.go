package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// runInProcess runs `ringback serve` with args in this process, listening
// on addr (args name it with --http), and returns the app once /readyz
// answers 200. setup, when given, changes the app before it runs (a fake
// clock). The app stops when the test ends.
func runInProcess(t *testing.T, addr string, args []string, setup func(*App)) *App {
	t.Helper()
	// Bound first: the port was free when the test chose it, and another
	// process (the e2e tests run beside) could take it while the app
	// starts; a Kafka broker there once held /readyz for 21 minutes.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() }) // the server's stop closes it too, if it served
	cfg, err := parse(args, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := resolve(cfg.Targets)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(ts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, ts, io.Discard)
	if err != nil {
		cancel()
		ln.Close()
		t.Fatal(err)
	}
	a.listener = ln
	if setup != nil {
		setup(a)
	}
	done := make(chan error, 1)
	go func() { done <- a.run(ctx, ts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			_ = err // a stop's; what a test cares for it checks itself
		case <-time.After(30 * time.Second):
			t.Error("the app did not stop within 30s")
		}
		a.close()
	})
	client := &http.Client{Timeout: 5 * time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if res, err := client.Get("http://" + addr + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return a
			}
		}
		select {
		case err := <-done:
			done <- err // for the cleanup
			t.Fatalf("the app stopped while starting: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the app is not ready within 30s")
		}
	}
}
