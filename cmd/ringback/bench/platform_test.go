package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ringback/ringback/libs/childproc"
	"github.com/ringback/ringback/libs/siptest"
)

// binaryPath is the ringback binary to measure: $RINGBACK_BIN (make bench
// passes bin/ringback, built by make build), else built into dir, without
// -race so the figures are the ones a user gets.
func binaryPath(ctx context.Context, dir string) (string, error) {
	if p := os.Getenv("RINGBACK_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("RINGBACK_BIN: %w", err)
		}
		return p, nil
	}
	return goBuild(ctx, filepath.Join(dir, "ringback"), "..")
}

// goBuild builds the package pkg into the binary out.
func goBuild(ctx context.Context, out, pkg string) (string, error) {
	build := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	return out, nil
}

func freePort(network string) (string, error) {
	if network == "udp" {
		// A SIP address: the platform listens on it over TCP too.
		return siptest.FindFreeAddr()
	}
	return siptest.FreeTCPAddr()
}

// platform is one `ringback serve` process.
type platform struct {
	URL  string
	Data string // --data: the embedded store is in Data/store
	// Pprof is where its Go profiles are served (--debug-pprof), if
	// anywhere: thinPath then tells where the CPU went.
	Pprof string
	cmd   *exec.Cmd
	log   string
	done  chan struct{}

	stopOnce sync.Once
}

// startPlatform runs `ringback serve` on free loopback ports with a fresh
// data directory and waits for /readyz. The caller must call stop.
func startPlatform(ctx context.Context, bin, dir, trunk string, args ...string) (*platform, error) {
	httpAddr, err := freePort("tcp")
	if err != nil {
		return nil, err
	}
	sipAddr, err := freePort("udp")
	if err != nil {
		return nil, err
	}
	p := &platform{URL: "http://" + httpAddr, Data: filepath.Join(dir, "data"), log: filepath.Join(dir, "ringback.log"),
		done: make(chan struct{})}
	logFile, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, append([]string{"serve", "--http", httpAddr, "--sip", sipAddr, "--sip-trunk", trunk,
		"--data", p.Data, "--log-level", "warn"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.Env = append(os.Environ(), "RINGBACK_MEDIA_DRAIN_GRACE=2s", // stop in seconds, calls up or not
		// fake contacts are dialled at any hour: the calling window is open fully
		"RINGBACK_SCHEDULER_CALLING_WINDOW=00:00-24:00", "RINGBACK_AGENT_SESSION_CALLING_WINDOW=00:00-24:00",
		// Every request of a test comes from 127.0.0.1, many for one number:
		// the rate limits per address and per number (issue 12) are off
		// unless a test turns them on with their flags (which win over these).
		"RINGBACK_INTAKE_RATE_ADDRESS=off", "RINGBACK_INTAKE_RATE_NUMBER=off")
	childproc.DieWithParent(p.cmd)
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start ringback: %w", err)
	}
	go func() { _ = p.cmd.Wait(); logFile.Close(); close(p.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if res, err := http.Get(p.URL + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("ringback exited during start:\n%s", p.tail())
		case <-ctx.Done():
			_ = p.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = p.stop()
			return nil, fmt.Errorf("ringback not ready after 30s:\n%s", p.tail())
		}
	}
}

// stop sends SIGTERM, waits up to 15s, then kills; it reports an unclean
// exit or a panic in the log. Only the first call does anything.
func (p *platform) stop() error {
	var err error
	p.stopOnce.Do(func() { err = p.terminate() })
	return err
}

func (p *platform) terminate() error {
	select {
	case <-p.done: // exited on its own: that is a failure too
		return fmt.Errorf("ringback exited early (%s):\n%s", p.cmd.ProcessState, p.tail())
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("ringback did not stop within 15s of SIGTERM, killed:\n%s", p.tail())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("ringback exited with %d:\n%s", code, p.tail())
	}
	if b, _ := os.ReadFile(p.log); bytes.Contains(b, []byte("panic:")) {
		return fmt.Errorf("ringback panicked:\n%s", p.tail())
	}
	return nil
}

func (p *platform) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// do sends one API request and decodes a 2xx answer into out (when not
// nil); any other status is an error quoting the problem document.
func (p *platform) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.URL+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, res.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode %q: %w", method, path, b, err)
		}
	}
	return nil
}

// pushed is one Server-Sent Event and when this process finished reading it.
type pushed struct {
	Name string
	Data json.RawMessage
	At   time.Time
	View struct {
		ID          string `json:"id"`
		AgentID     string `json:"agent_id"`
		CallbackID  string `json:"callback_id"`
		Status      string `json:"status"`
		Reason      string `json:"reason"`
		Disposition string `json:"disposition"`
	}
}

// stream is agents' event streams, each read by a goroutine until close.
type stream struct {
	mu      sync.Mutex
	events  []pushed
	err     error
	more    chan struct{} // capacity 1: events or err changed
	cancel  context.CancelFunc
	readers sync.WaitGroup
}

// events opens the event streams of agents, read into one stream.
func (p *platform) events(ctx context.Context, agents ...string) (*stream, error) {
	ctx, cancel := context.WithCancel(ctx)
	s := &stream{more: make(chan struct{}, 1), cancel: cancel}
	for _, agent := range agents {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/v1/agents/"+agent+"/events", nil)
		if err == nil {
			var res *http.Response
			if res, err = http.DefaultClient.Do(req); err == nil && res.StatusCode != http.StatusOK {
				res.Body.Close()
				err = errors.New(res.Status)
			}
			if err == nil {
				s.readers.Add(1)
				go s.read(res.Body)
				continue
			}
		}
		s.close()
		return nil, fmt.Errorf("events of %s: %w", agent, err)
	}
	return s, nil
}

func (s *stream) read(body io.ReadCloser) {
	defer s.readers.Done()
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var ev pushed
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "" && ev.Name != "":
			ev.At = time.Now()
			_ = json.Unmarshal(ev.Data, &ev.View)
			s.mu.Lock()
			s.events = append(s.events, ev)
			s.mu.Unlock()
			s.signal()
			ev = pushed{}
		case strings.HasPrefix(line, "event: "):
			ev.Name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			ev.Data = json.RawMessage(line[len("data: "):])
		}
	}
	s.mu.Lock()
	s.err = errors.Join(errors.New("event stream ended"), sc.Err())
	s.mu.Unlock()
	s.signal()
}

func (s *stream) signal() {
	select {
	case s.more <- struct{}{}:
	default:
	}
}

// next returns the first event from index *from on that matches, moving
// *from past it, within timeout.
func (s *stream) next(ctx context.Context, from *int, what string, timeout time.Duration, match func(pushed) bool) (pushed, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		for ; *from < len(s.events); *from++ {
			if ev := s.events[*from]; match(ev) {
				*from++
				s.mu.Unlock()
				return ev, nil
			}
		}
		err := s.err
		s.mu.Unlock()
		if err != nil {
			return pushed{}, fmt.Errorf("waiting for %s: %w", what, err)
		}
		select {
		case <-s.more:
		case <-ctx.Done():
			return pushed{}, ctx.Err()
		case <-deadline.C:
			return pushed{}, fmt.Errorf("no %s pushed within %s", what, timeout)
		}
	}
}

// close ends the streams and waits for their readers.
func (s *stream) close() {
	s.cancel()
	s.readers.Wait()
}

// metrics reads the platform's own counters from /metrics, each sample
// under its name with its labels as written ("name{a=\"b\"}").
func (p *platform) metrics(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer res.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ') // a label's value may hold spaces
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		name, value := line[:i], line[i+1:]
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}
