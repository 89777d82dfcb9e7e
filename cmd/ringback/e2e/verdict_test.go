package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// A long test's failure is printed when it happens, and then buried under
// what its clean-ups print (every process's last words, sipp's messages),
// past the end of the log a CI keeps. sayWhyLast has the test say again,
// last of all, why it failed.
var (
	verdictMu sync.Mutex
	verdicts  = map[*testing.T]*[]string{}
)

// sayWhyLast registers the clean-up that repeats the reasons given through
// fatalf and errorf. Call it before anything else registers a clean-up
// (clean-ups run last-in first-out).
func sayWhyLast(t *testing.T) {
	reasons := &[]string{}
	verdictMu.Lock()
	verdicts[t] = reasons
	verdictMu.Unlock()
	t.Cleanup(func() {
		verdictMu.Lock()
		delete(verdicts, t)
		r := *reasons
		verdictMu.Unlock()
		if t.Failed() && len(r) > 0 {
			t.Logf("%s failed because:\n  %s", t.Name(), strings.Join(r, "\n  "))
		}
	})
}

func record(t *testing.T, msg string) {
	const most = 600
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i] + " …"
	}
	if len(msg) > most {
		msg = msg[:most] + " …"
	}
	verdictMu.Lock()
	defer verdictMu.Unlock()
	if r := verdicts[t]; r != nil && len(*r) < 20 {
		*r = append(*r, msg)
	}
}

func fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	record(t, msg)
	t.Fatal(msg)
}

func errorf(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	record(t, msg)
	t.Error(msg)
}
