package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startServer runs `ringback serve` in the test with the given extra
// flags, on free ports, and returns its base URL once /healthz answers.
func startServer(t *testing.T, flags ...string) string {
	t.Helper()
	addr := freePort(t, "tcp")
	args := append([]string{"serve", "--http=" + addr, "--sip=127.0.0.1:0", "--data=" + t.TempDir(), "--log-level=error"}, flags...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, noEnv, io.Discard, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			_ = err // a stop's; what a test cares for it checks itself
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop within 20s")
		}
	})
	url := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		if res, err := http.Get(url + "/healthz"); err == nil {
			res.Body.Close()
			return url
		}
		select {
		case err := <-done:
			done <- err // for the cleanup
			t.Fatalf("serve ended: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("serve not up within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T, network string) string {
	t.Helper()
	ln, err := net.Listen(network, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestSecurityServerLimits (issue 16): idle keep-alive connections are
// closed after the idle timeout, a body sent slowly is cut off at the read
// timeout, the desktop's event stream outlives the write timeout, and the
// mux's own 404 and 405 are problem+json.
func TestSecurityServerLimits(t *testing.T) {
	url := startServer(t, "--http-idle-timeout=300ms", "--http-read-timeout=500ms", "--http-write-timeout=400ms")
	host := strings.TrimPrefix(url, "http://")

	t.Run("problems", func(t *testing.T) {
		for _, c := range []struct {
			method, path string
			status       int
		}{{"GET", "/nope", 404}, {"DELETE", "/healthz", 405}, {"PATCH", "/v1/callbacks", 405}} {
			req, _ := http.NewRequest(c.method, url+c.path, nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var p struct{ Status int }
			err = json.NewDecoder(res.Body).Decode(&p)
			res.Body.Close()
			if res.StatusCode != c.status || res.Header.Get("Content-Type") != "application/problem+json" || err != nil || p.Status != c.status {
				t.Errorf("%s %s: %d %q %v", c.method, c.path, res.StatusCode, res.Header.Get("Content-Type"), err)
			}
		}
	})

	t.Run("idle", func(t *testing.T) {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(conn)
		res, err := http.ReadResponse(br, nil)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("healthz: %v", err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		start := time.Now()
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("idle connection: %v, want closed by the server", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("idle connection closed after %v", d)
		}
	})

	t.Run("slow body", func(t *testing.T) {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "POST /v1/callbacks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
		start := time.Now()
		done := make(chan struct{})
		go func() { // a byte every 100ms: never done within the read timeout
			defer close(done)
			for range 50 {
				if _, err := io.WriteString(conn, " "); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.Copy(io.Discard, conn) // until the server closes
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("slow body still read after %v", d)
		}
		conn.Close()
		<-done
	})

	t.Run("event stream outlives the write timeout", func(t *testing.T) {
		res, err := http.Get(url + "/v1/agents/a1/events")
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("events: %v %v", err, res)
		}
		defer res.Body.Close()
		lines := make(chan string, 100)
		go func() {
			sc := bufio.NewScanner(res.Body)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		time.Sleep(1 * time.Second) // past the write and read timeouts
		login, err := http.Post(url+"/v1/agents/a1/session", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		login.Body.Close()
		timeout := time.After(5 * time.Second)
		for seen := 0; ; {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatal("stream cut")
				}
				if strings.HasPrefix(l, "event: state") {
					if seen++; seen == 2 { // the snapshot, then the login
						return
					}
				}
			case <-timeout:
				t.Fatal("no state pushed after the login")
			}
		}
	})
}
