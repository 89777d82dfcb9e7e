package childproc_test

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/childproc"
)

// TestChildDiesWithItsParent: a parent (this test binary again, as a
// helper) starts a child with DieWithParent and is killed with SIGKILL,
// which runs no cleanup; the child dies too.
func TestChildDiesWithItsParent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux's")
	}
	parent := exec.Command(os.Args[0], "-test.run=^TestHelperParent$", "-test.count=1")
	parent.Env = append(os.Environ(), "CHILDPROC_HELPER=parent")
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	// The parent prints its child's pid once the child runs.
	buf := make([]byte, 64)
	n, err := out.Read(buf)
	if err != nil {
		t.Fatalf("read the child's pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		t.Fatalf("the parent printed %q, want its child's pid", buf[:n])
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the child %d is not running: %v", pid, err)
	}
	if err := parent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = parent.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the child %d still runs 10 s after its parent was killed", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHelperParent is the parent of TestChildDiesWithItsParent: it starts
// a child that would sleep a minute, prints its pid and waits to be killed.
func TestHelperParent(t *testing.T) {
	if os.Getenv("CHILDPROC_HELPER") != "parent" {
		t.Skip("a helper of TestChildDiesWithItsParent")
	}
	child := exec.Command("sleep", "60")
	childproc.DieWithParent(child)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString(strconv.Itoa(child.Process.Pid) + "\n")
	err := child.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatal(err)
	}
}
