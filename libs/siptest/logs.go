package siptest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// WaitTimeout bounds every wait in this package. It is generous on purpose:
// tests run on loaded two-core CI machines and must not flake; a wait that
// succeeds returns as soon as its condition holds.
const WaitTimeout = 30 * time.Second

// pollEvery is how often waits re-read sipp's logs.
const pollEvery = 20 * time.Millisecond

// Logs are the files one sipp process writes, all under Dir.
type Logs struct {
	Dir string
	// MessageLog is every SIP message sent and received, in full (-trace_msg).
	MessageLog string
	// ShortMessageLog is one line per message (-trace_shortmsg), parsed by
	// Messages.
	ShortMessageLog string
	// ErrorLog lists unexpected messages and scenario errors (-trace_err).
	ErrorLog string
	// Stats is the statistics CSV (-trace_stat), rewritten every second and
	// at exit; read it with Stats.
	StatsFile string
	// Output is sipp's stdout and stderr: its final screens after it stops.
	Output string
}

func newLogs(dir string) Logs {
	return Logs{
		Dir:             dir,
		MessageLog:      dir + "/messages.log",
		ShortMessageLog: dir + "/short_messages.log",
		ErrorLog:        dir + "/errors.log",
		StatsFile:       dir + "/stats.csv",
		Output:          dir + "/sipp.out",
	}
}

// args are the sipp flags that write these logs.
func (l Logs) args() []string {
	return []string{
		"-trace_msg", "-message_file", l.MessageLog,
		"-trace_shortmsg", "-shortmessage_file", l.ShortMessageLog,
		"-trace_err", "-error_file", l.ErrorLog,
		"-trace_stat", "-stf", l.StatsFile, "-fd", "1",
	}
}

// Message is one SIP message in sipp's short message log.
type Message struct {
	Time time.Time
	// Sent is true for a message sipp sent, false for one it received.
	Sent   bool
	CallID string
	// CSeq is the CSeq header value, e.g. "1 INVITE".
	CSeq string
	// StartLine is the request line ("INVITE sip:+1415...@host SIP/2.0") or
	// the status line ("SIP/2.0 486 Busy Here").
	StartLine string
}

// Method is the request method, or "" for a response.
func (m Message) Method() string {
	if strings.HasPrefix(m.StartLine, "SIP/") {
		return ""
	}
	method, _, _ := strings.Cut(m.StartLine, " ")
	return method
}

// RequestURI is the request URI, or "" for a response.
func (m Message) RequestURI() string {
	if m.Method() == "" {
		return ""
	}
	f := strings.Fields(m.StartLine)
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

// StatusCode is the response code, or 0 for a request.
func (m Message) StatusCode() int {
	if !strings.HasPrefix(m.StartLine, "SIP/") {
		return 0
	}
	f := strings.Fields(m.StartLine)
	if len(f) < 2 {
		return 0
	}
	code, _ := strconv.Atoi(f[1])
	return code
}

func (m Message) String() string {
	dir := "received"
	if m.Sent {
		dir = "sent"
	}
	return fmt.Sprintf("%s %s [%s | %s]", dir, m.StartLine, m.CallID, m.CSeq)
}

// Messages returns what sipp has logged so far, in order. sipp flushes the
// short message log per message, so this can be polled while it runs.
func (l Logs) Messages() ([]Message, error) {
	b, err := os.ReadFile(l.ShortMessageLog)
	if os.IsNotExist(err) {
		return nil, nil // nothing sent or received yet
	}
	if err != nil {
		return nil, fmt.Errorf("siptest: read messages: %w", err)
	}
	return parseShortMessages(b), nil
}

// parseShortMessages reads lines of tab-separated date, time, epoch seconds,
// S|R, Call-ID, "CSeq:<n> <method>" and start line. A line sipp is still
// writing (no newline yet) is left for the next read.
func parseShortMessages(b []byte) []Message {
	var msgs []Message
	for len(b) > 0 {
		line, rest, ok := bytes.Cut(b, []byte("\n"))
		if !ok {
			break
		}
		b = rest
		f := strings.Split(strings.TrimRight(string(line), "\r"), "\t")
		if len(f) < 7 {
			continue
		}
		m := Message{
			Sent:      f[3] == "S",
			CallID:    f[4],
			CSeq:      strings.TrimSpace(strings.TrimPrefix(f[5], "CSeq:")),
			StartLine: strings.TrimSpace(strings.Join(f[6:], "\t")),
		}
		if sec, err := strconv.ParseFloat(f[2], 64); err == nil {
			m.Time = time.Unix(0, int64(sec*float64(time.Second)))
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// Received returns the requests with this method that sipp received so far
// (retransmissions included; count distinct CallID for calls).
func (l Logs) Received(method string) ([]Message, error) {
	msgs, err := l.Messages()
	if err != nil {
		return nil, err
	}
	return filter(msgs, func(m Message) bool { return !m.Sent && m.Method() == method }), nil
}

// RawMessages returns the full message log: every message with all headers
// and bodies, for assertions on a header.
func (l Logs) RawMessages() (string, error) {
	b, err := os.ReadFile(l.MessageLog)
	if err != nil && !os.IsNotExist(err) {
		return "", fmt.Errorf("siptest: read message log: %w", err)
	}
	return string(b), nil
}

// Stats returns the last row of sipp's statistics CSV by column name, e.g.
// "SuccessfulCall(C)", "FailedCall(C)", "IncomingCall(C)".
func (l Logs) Stats() (map[string]string, error) {
	f, err := os.Open(l.StatsFile)
	if err != nil {
		return nil, fmt.Errorf("siptest: stats: %w", err)
	}
	defer f.Close()
	var header, last []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		row := strings.Split(strings.TrimRight(sc.Text(), ";"), ";")
		if header == nil {
			header = row
			continue
		}
		last = row
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("siptest: stats: %w", err)
	}
	stats := make(map[string]string, len(header))
	for i, name := range header {
		if i < len(last) {
			stats[name] = last[i]
		}
	}
	return stats, nil
}

// WaitFor polls the messages until cond holds and returns them, or fails the
// test after WaitTimeout describing what it waited for.
func (l Logs) WaitFor(t testing.TB, what string, cond func([]Message) bool) []Message {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for {
		msgs, err := l.Messages()
		if err != nil {
			t.Fatal(err)
		}
		if cond(msgs) {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("siptest: %s: not seen within %s; sipp logged:\n%s", what, WaitTimeout, dump(msgs))
		}
		time.Sleep(pollEvery)
	}
}

// WaitStats polls the statistics (rewritten every second) until cond holds,
// or fails the test after WaitTimeout. A call counts as successful only once
// its scenario has finished, timewait included.
func (l Logs) WaitStats(t testing.TB, what string, cond func(map[string]string) bool) map[string]string {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for {
		stats, err := l.Stats()
		if err == nil && cond(stats) {
			return stats
		}
		if time.Now().After(deadline) {
			t.Fatalf("siptest: %s: not seen within %s; last stats error: %v", what, WaitTimeout, err)
		}
		time.Sleep(10 * pollEvery)
	}
}

// WaitReceived waits until sipp has received n requests with this method in
// distinct calls (retransmissions do not count) and returns the first of each.
func (l Logs) WaitReceived(t testing.TB, method string, n int) []Message {
	t.Helper()
	var got []Message
	l.WaitFor(t, fmt.Sprintf("%d %s received", n, method), func(msgs []Message) bool {
		got = firstPerCall(filter(msgs, func(m Message) bool { return !m.Sent && m.Method() == method }))
		return len(got) >= n
	})
	return got
}

func filter(msgs []Message, keep func(Message) bool) []Message {
	var out []Message
	for _, m := range msgs {
		if keep(m) {
			out = append(out, m)
		}
	}
	return out
}

func firstPerCall(msgs []Message) []Message {
	seen := make(map[string]bool)
	var out []Message
	for _, m := range msgs {
		if !seen[m.CallID] {
			seen[m.CallID] = true
			out = append(out, m)
		}
	}
	return out
}

func dump(msgs []Message) string {
	if len(msgs) == 0 {
		return "  (nothing)"
	}
	var b strings.Builder
	// A long run's whole log would bury the test's own failure message,
	// printed before it, past what a CI log keeps: its last messages say
	// where the calls stood.
	const keep = 40
	if len(msgs) > keep {
		fmt.Fprintf(&b, "  (%d earlier messages left out)\n", len(msgs)-keep)
		msgs = msgs[len(msgs)-keep:]
	}
	for _, m := range msgs {
		fmt.Fprintf(&b, "  %s\n", m)
	}
	return b.String()
}
