package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/childproc"
	"github.com/ringback/ringback/libs/siptest"
)

// binary is the ringback binary under test, built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ringback-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "ringback")
	build := exec.Command("go", "build", "-race", "-o", binary, "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build ringback:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one ringback process.
type proc struct {
	name string
	URL  string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	// ended is set when the test ends the process (stop, kill9): one that
	// exits otherwise died by itself, which a test must not miss.
	ended atomic.Bool
}

func freePort(t testing.TB, network string) string {
	t.Helper()
	if network == "udp" {
		return siptest.FreeAddr(t) // a SIP address: UDP and TCP
	}
	addr, err := siptest.FreeTCPAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// start runs `ringback serve args...` with its own HTTP port, waits for
// /readyz and stops it (SIGTERM) when the test ends.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return startWithin(t, 30*time.Second, name, args...)
}

// startWithin is start, waiting up to within for /readyz: a replica that
// joins consumer groups rebalancing after kills takes longer.
func startWithin(t *testing.T, within time.Duration, name string, args ...string) *proc {
	t.Helper()
	// A port picked free can still be taken by the time ringback binds it
	// (another test's pick): ringback then exits naming the address, and
	// is started again on a fresh one. Ports the test chose elsewhere
	// (a phone's own) are not ours to change and fail as before.
	for attempt := 1; ; attempt++ {
		p, taken := startOnce(t, within, name, args)
		if p != nil {
			return p
		}
		if taken == deposed {
			if attempt == 3 {
				t.Fatalf("%s was deposed while starting, three times", name)
			}
			t.Logf("%s was deposed while starting (its lease lapsed on a loaded machine) and exited, as designed: started again, as its orchestrator would", name)
			continue
		}
		replaced := false
		for i, a := range args {
			if a == taken {
				network := "tcp"
				if i > 0 && args[i-1] == "--sip" {
					network = "udp"
				}
				args = slices.Clone(args)
				args[i], replaced = freePort(t, network), true
			}
		}
		if attempt == 3 || !(replaced || taken == "http") {
			t.Fatalf("%s could not bind %s", name, taken)
		}
		t.Logf("%s: %s was taken before it bound; starting again", name, taken)
	}
}

// deposed is what startOnce returns for a gateway that exited because
// another instance took its calls over: its heartbeat lease lapsed (on a
// loaded machine, with a test's short TTL), and a deposed gateway exits by
// design, to be started afresh by its orchestrator.
const deposed = "deposed"

// deposedExit is the last word of such a gateway (media-gateway's
// heartbeat).
const deposedExit = "another instance took its calls over"

// bindError finds the address a listener could not bind in a log.
var bindError = regexp.MustCompile(`listen (?:tcp|udp)4? (127\.0\.0\.1:[0-9]+): bind: address already in use`)

// startOnce starts the process once. A process that exits because an
// address was taken returns nil and that address ("http" for its own).
func startOnce(t *testing.T, within time.Duration, name string, args []string) (*proc, string) {
	t.Helper()
	addr := freePort(t, "tcp")
	dir := t.TempDir()
	if keep := os.Getenv("RINGBACK_E2E_KEEP_LOGS"); keep != "" {
		// A directory that outlives the test, for a failure's whole story.
		dir = filepath.Join(keep, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	level := "warn"
	if l := os.Getenv("RINGBACK_E2E_LOG_LEVEL"); l != "" {
		level = l // debug or info when a failure needs the story
	}
	cmd := exec.Command(binary, append([]string{"serve", "--http", addr, "--log-level", level}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	childproc.DieWithParent(cmd)
	// A gateway stopping drains its live calls; tests stop with calls up,
	// and wait seconds, not the production grace of minutes.
	// Tests dial their fake contacts at any hour of the machine's day: the
	// calling window (08:00–21:00 the contact's time) is opened fully.
	cmd.Env = append(os.Environ(), "RINGBACK_MEDIA_DRAIN_GRACE=2s",
		"RINGBACK_SCHEDULER_CALLING_WINDOW=00:00-24:00", "RINGBACK_AGENT_SESSION_CALLING_WINDOW=00:00-24:00",
		// Every request of a test comes from 127.0.0.1, many for one number:
		// the rate limits per address and per number (issue 12) are off
		// unless a test turns them on with their flags (which win over these).
		"RINGBACK_INTAKE_RATE_ADDRESS=off", "RINGBACK_INTAKE_RATE_NUMBER=off")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, URL: "http://" + addr, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logFile.Close(); close(p.done) }()
	t.Cleanup(func() { p.stop(t) })
	deadline := time.Now().Add(within)
	why := "no answer on /readyz"
	for {
		res, err := http.Get(p.URL + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
			res.Body.Close()
			if res.StatusCode == 200 {
				return p, ""
			}
			why = strings.TrimSpace(string(body))
		}
		select {
		case <-p.done:
			p.ended.Store(true) // said here, or started again
			if m := bindError.FindStringSubmatch(p.tail()); m != nil {
				if m[1] == addr {
					return nil, "http"
				}
				return nil, m[1]
			}
			if strings.Contains(p.tail(), deposedExit) {
				return nil, deposed
			}
			t.Fatalf("%s exited during start:\n%s", name, p.tail())
		default:
		}
		if time.Now().After(deadline) {
			// What /readyz said last names the part that was not ready.
			t.Fatalf("%s not ready after %v (%s):\n%s", name, within, why, p.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the process gracefully and checks it stopped cleanly.
func (p *proc) stop(t *testing.T) {
	select {
	case <-p.done:
		switch {
		case p.ended.Swap(true):
		case strings.Contains(p.tail(), deposedExit):
			t.Logf("%s was deposed (its lease lapsed) and exited, as designed:\n%s", p.name, p.tail())
		default:
			// A replica that exits in production is restarted by its
			// orchestrator, so a test harness that starts none would
			// count it as lost availability; it is a failure either way.
			errorf(t, "%s exited by itself (%v):\n%s", p.name, p.cmd.ProcessState, p.tail())
		}
		return
	default:
	}
	p.ended.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			errorf(t, "%s exited with %d:\n%s", p.name, code, p.tail())
		}
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		errorf(t, "%s did not stop within 15s of SIGTERM:\n%s", p.name, p.tail())
	}
	if b, _ := os.ReadFile(p.log); bytes.Contains(b, []byte("DATA RACE")) || bytes.Contains(b, []byte("panic:")) {
		errorf(t, "%s: %s\n%s", p.name, firstAlarm(b), b)
	} else if t.Failed() {
		// The log lives in the test's temporary directory, gone after it:
		// a failed test shows what the process said last.
		t.Logf("%s's log ends:\n%s", p.name, p.tail())
	}
}

// firstAlarm is the line a race or panic report starts with, and its next.
func firstAlarm(log []byte) string {
	for _, word := range []string{"DATA RACE", "panic:"} {
		if i := bytes.Index(log, []byte(word)); i >= 0 {
			rest := log[i:]
			if j := bytes.IndexByte(rest, '\n'); j >= 0 && j+1 < len(rest) {
				if k := bytes.IndexByte(rest[j+1:], '\n'); k >= 0 {
					rest = rest[:j+1+k]
				}
			}
			return strings.ReplaceAll(string(rest), "\n", " | ")
		}
	}
	return ""
}

func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// api is the platform as a client sees it: route picks the process that
// serves a request (one for single node; the owning service otherwise).
type api struct {
	t     *testing.T
	route func(method, path string) string
}

type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
}

func (a api) do(method, path string, body any) reply {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.route(method, path)+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{Status: res.StatusCode, Header: res.Header, Body: b}
}

// eventually polls GET path until cond holds on the decoded answer.
func (a api) eventually(path string, v any, what string, cond func() bool) {
	a.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := a.do("GET", path, nil)
		if r.Status == 200 {
			r.decode(a.t, v)
			if cond() {
				return
			}
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("%s: not within 20s; last %d %s", what, r.Status, r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	ID, Name string
	Data     json.RawMessage
}

// stream reads an agent's event stream until the test ends.
type stream struct {
	mu     sync.Mutex
	events []sseEvent
	more   chan struct{}
}

func (a api) events(agent string) *stream {
	a.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a.t.Cleanup(cancel)
	path := "/v1/agents/" + agent + "/events"
	req, _ := http.NewRequestWithContext(ctx, "GET", a.route("GET", path)+path, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		a.t.Fatalf("events: %v %v", err, res)
	}
	s := &stream{more: make(chan struct{}, 1)}
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Name != "" {
					s.mu.Lock()
					s.events = append(s.events, ev)
					s.mu.Unlock()
					select {
					case s.more <- struct{}{}:
					default:
					}
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Name = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.Data = json.RawMessage(line[6:])
			}
		}
	}()
	return s
}

// waitFor returns the first event from index *from on that matches, and
// moves *from past it.
func (s *stream) waitFor(t *testing.T, from *int, what string, match func(sseEvent) bool) sseEvent {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		s.mu.Lock()
		for ; *from < len(s.events); *from++ {
			if ev := s.events[*from]; match(ev) {
				*from++
				s.mu.Unlock()
				return ev
			}
		}
		s.mu.Unlock()
		select {
		case <-s.more:
		case <-deadline:
			t.Fatalf("no %s pushed within 20s", what)
		}
	}
}
