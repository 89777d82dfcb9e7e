package siptest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/childproc"
)

// UAS is a sipp process acting as a phone or a trunk: it runs its scenario
// for every call it receives until the test ends.
type UAS struct {
	// Addr is the host:port it listens on (UDP, 127.0.0.1).
	Addr string
	Logs
	proc *process
}

// StartUAS starts sipp as a UAS on a free UDP port of 127.0.0.1, waits until
// it listens and stops it in t.Cleanup. It fails the test when sipp does not
// start, and skips it when sipp is not installed.
func StartUAS(t testing.TB, scenario Scenario) *UAS {
	t.Helper()
	bin := Sipp(t)
	xml, err := scenario.XML()
	if err != nil {
		t.Fatal(err)
	}
	// Another socket can take the port between our probe and sipp's bind
	// (any bind to port 0 may get it): sipp then exits, waitListening sees
	// that the port is not sipp's, and a new port is tried.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freeUDPPort()
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		logs := newLogs(dir)
		sf := filepath.Join(dir, "scenario.xml")
		if err := os.WriteFile(sf, xml, 0o644); err != nil {
			t.Fatal(err)
		}
		args := append([]string{
			"-sf", sf,
			"-i", "127.0.0.1", "-p", strconv.Itoa(port),
			"-mi", "127.0.0.1", // media sockets too: tests talk to loopback only
			"-nostdin",
		}, logs.args()...)
		p, err := startProcess(bin, dir, logs.Output, args)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.waitListening(port); err != nil {
			lastErr = fmt.Errorf("sipp %s on port %d: %w\n%s", scenario.name(), port, err, tail(logs.Output))
			p.stop()
			continue
		}
		u := &UAS{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Logs: logs, proc: p}
		t.Cleanup(func() {
			exitedEarly := p.exited()
			code := u.Stop()
			if t.Failed() {
				msgs, _ := u.Messages()
				t.Logf("sipp UAS %s at %s saw:\n%s", scenario.name(), u.Addr, dump(msgs))
				if exitedEarly {
					t.Logf("sipp UAS %s had exited by itself, code %d:\n%s", scenario.name(), code, tail(logs.Output))
				}
			}
		})
		return u
	}
	t.Fatal(lastErr)
	return nil
}

// Stop ends sipp (SIGTERM, so that it writes its final statistics and
// screens) and returns its exit code: 0 when every call passed. It is
// idempotent and safe to call before t.Cleanup does.
func (u *UAS) Stop() int {
	return u.proc.stop()
}

// UAC is a finished sipp run as a caller.
type UAC struct {
	// ExitCode is sipp's: 0 when the call followed the scenario, 1 when it
	// failed; other values are sipp errors.
	ExitCode int
	Logs
}

// RunUAC runs one call of the scenario against target (host:port) and waits
// for sipp to finish, for at most WaitTimeout.
func RunUAC(t testing.TB, scenario Scenario, target string) *UAC {
	t.Helper()
	bin := Sipp(t)
	xml, err := scenario.XML()
	if err != nil {
		t.Fatal(err)
	}
	port, err := uacPort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logs := newLogs(dir)
	sf := filepath.Join(dir, "scenario.xml")
	if err := os.WriteFile(sf, xml, 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{
		target,
		"-sf", sf,
		"-i", "127.0.0.1", "-p", strconv.Itoa(port), "-mi", "127.0.0.1",
		"-m", "1",
		"-timeout", strconv.Itoa(int(WaitTimeout/time.Second)) + "s", "-timeout_error",
		"-nostdin",
	}, logs.args()...)
	p, err := startProcess(bin, dir, logs.Output, args)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.stop() })
	select {
	case <-p.done:
	case <-time.After(WaitTimeout + 5*time.Second): // sipp's own -timeout should have ended it
		p.stop()
		t.Fatalf("siptest: sipp UAC %s to %s did not finish\n%s", scenario.name(), target, tail(logs.Output))
	}
	u := &UAC{ExitCode: p.exitCode, Logs: logs}
	if u.ExitCode != 0 {
		msgs, _ := u.Messages()
		t.Logf("sipp UAC %s to %s exited %d; it saw:\n%s", scenario.name(), target, u.ExitCode, dump(msgs))
	}
	return u
}

// RunUACFlood runs calls calls of the scenario against target at rate calls
// per second, as a flood would, and waits for sipp to finish. A request left
// unanswered fails its call after two seconds (-recv_timeout), so the run is
// bounded by calls/rate plus a few seconds; ExitCode is 1 when any call
// failed. Read the outcome from the logs (Messages, Stats).
func RunUACFlood(t testing.TB, scenario Scenario, target string, rate, calls int) *UAC {
	t.Helper()
	if rate <= 0 || calls <= 0 {
		t.Fatalf("siptest: flood of %d calls at %d/s", calls, rate)
	}
	bin := Sipp(t)
	xml, err := scenario.XML()
	if err != nil {
		t.Fatal(err)
	}
	port, err := uacPort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logs := newLogs(dir)
	sf := filepath.Join(dir, "scenario.xml")
	if err := os.WriteFile(sf, xml, 0o644); err != nil {
		t.Fatal(err)
	}
	bound := time.Duration(calls/rate)*time.Second + WaitTimeout
	args := append([]string{
		target,
		"-sf", sf,
		"-i", "127.0.0.1", "-p", strconv.Itoa(port), "-mi", "127.0.0.1",
		"-r", strconv.Itoa(rate), "-m", strconv.Itoa(calls), "-l", strconv.Itoa(calls),
		"-recv_timeout", "2000",
		"-timeout", strconv.Itoa(int(bound/time.Second)) + "s",
		"-nostdin",
	}, logs.args()...)
	p, err := startProcess(bin, dir, logs.Output, args)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.stop() })
	select {
	case <-p.done:
	case <-time.After(bound + 5*time.Second):
		p.stop()
		t.Fatalf("siptest: sipp flood %s to %s did not finish\n%s", scenario.name(), target, tail(logs.Output))
	}
	return &UAC{ExitCode: p.exitCode, Logs: logs}
}

// process is one sipp process. Its waiter goroutine is owned by stop, which
// every caller of startProcess arranges through t.Cleanup.
type process struct {
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	exitCode int           // valid once done is closed
}

func startProcess(bin, dir, output string, args []string) (*process, error) {
	out, err := os.Create(output)
	if err != nil {
		return nil, fmt.Errorf("siptest: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir // sipp writes any file we did not name next to its scenario
	cmd.Stdout, cmd.Stderr = out, out
	childproc.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("siptest: start sipp: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer out.Close()
		err := cmd.Wait()
		var exit *exec.ExitError
		switch {
		case err == nil:
			p.exitCode = 0
		case errors.As(err, &exit):
			p.exitCode = exit.ExitCode()
		default:
			p.exitCode = -1
		}
	}()
	return p, nil
}

// waitListening waits until the process has bound the UDP port, so that the
// first INVITE of a test is not lost.
func (p *process) waitListening(port int) error {
	deadline := time.Now().Add(WaitTimeout)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("sipp exited with code %d before listening", p.exitCode)
		default:
		}
		ok, err := udpPortBoundBy(port, p.cmd.Process.Pid)
		if err != nil {
			// No /proc (not Linux): give sipp the time it takes here to bind.
			time.Sleep(500 * time.Millisecond)
			return nil //nolint:nilerr // no /proc: waited instead
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening after %s", WaitTimeout)
		}
		time.Sleep(pollEvery)
	}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) stop() int {
	select {
	case <-p.done:
		return p.exitCode
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return p.exitCode
}

// uacPort is a local port for a sipp UAC: without -p sipp takes 5060, or
// the next ports up, and two sipps running at once (tests in parallel) can
// then share one, each reading the other's answers. It is drawn below the
// kernel's ephemeral range (32768 and up) and below the range the
// gateway's baresip tests draw from (20000 and up), where no test's own
// outgoing socket is given it meanwhile.
func uacPort() (int, error) {
	for range 200 {
		port := 10000 + rand.IntN(10000)
		c, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return port, nil
		}
	}
	return 0, errors.New("siptest: no free UDP port for sipp between 10000 and 20000")
}

// freeUDPPort asks the kernel for a free UDP port on loopback.
func freeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("siptest: free port: %w", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// udpPortBoundBy reports whether process pid has a socket bound to the UDP
// port. Another process may have taken the port after freeUDPPort released
// it (any socket bound to port 0 can get it), so the socket must be sipp's:
// /proc/net/udp gives the socket's inode for local_address HEXIP:HEXPORT, and
// /proc/<pid>/fd links to "socket:[inode]".
func udpPortBoundBy(port, pid int) (bool, error) {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return false, err
	}
	want := fmt.Sprintf(":%04X", port)
	inodes := make(map[string]bool)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && strings.HasSuffix(f[1], want) {
			inodes["socket:["+f[9]+"]"] = true
		}
	}
	if len(inodes) == 0 {
		return false, nil
	}
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return false, nil //nolint:nilerr // exited, or not visible yet: the caller retries
	}
	for _, fd := range fds {
		if link, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && inodes[link] {
			return true, nil
		}
	}
	return false, nil
}

// tail returns the end of a log file, for failure messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}
