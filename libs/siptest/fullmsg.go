package siptest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FullMessage is one SIP message of sipp's full message log (-trace_msg),
// headers and body.
type FullMessage struct {
	// Sent is true for a message sipp sent, false for one it received.
	Sent bool
	// Text is the message as sent on the wire, with CRLF line ends.
	Text string
}

// StartLine is the request or status line.
func (m FullMessage) StartLine() string {
	line, _, _ := strings.Cut(m.Text, "\n")
	return strings.TrimRight(line, "\r")
}

// Method is the request method, or "" for a response.
func (m FullMessage) Method() string {
	line := m.StartLine()
	if strings.HasPrefix(line, "SIP/") {
		return ""
	}
	method, _, _ := strings.Cut(line, " ")
	return method
}

// Header returns the first value of the named header (case-insensitive,
// compact forms not expanded), or "".
func (m FullMessage) Header(name string) string {
	head, _, _ := strings.Cut(m.Text, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n")[1:] {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Body is what follows the blank line after the headers.
func (m FullMessage) Body() string {
	_, body, _ := strings.Cut(m.Text, "\r\n\r\n")
	return body
}

// Direction is the SDP media direction attribute of the body (RFC 4566 6:
// sendrecv, sendonly, recvonly or inactive), "sendrecv" when it names none,
// "" without SDP.
func (m FullMessage) Direction() string {
	body := m.Body()
	if !strings.Contains(body, "m=audio") {
		return ""
	}
	for _, line := range strings.Split(body, "\n") {
		switch a := strings.TrimSpace(line); a {
		case "a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive":
			return strings.TrimPrefix(a, "a=")
		}
	}
	return "sendrecv"
}

// FullMessages returns every message of the full message log so far, in
// order. A message sipp is still writing may be missing or cut short; poll
// with WaitRequests for what must be complete.
func (l Logs) FullMessages() ([]FullMessage, error) {
	raw, err := l.RawMessages()
	if err != nil {
		return nil, err
	}
	return parseFullMessages(raw), nil
}

// fullMessageSeparator starts every entry of sipp's -trace_msg log, followed
// by a timestamp, a line "UDP message received [n] bytes :" or "UDP message
// sent (n bytes):", a blank line and the n bytes of the message.
const fullMessageSeparator = "-----------------------------------------------"

var fullMessageSize = regexp.MustCompile(`message (received|sent) [\[(]([0-9]+)\]? bytes`)

func parseFullMessages(raw string) []FullMessage {
	var msgs []FullMessage
	for _, entry := range strings.Split(raw, fullMessageSeparator)[1:] {
		_, rest, _ := strings.Cut(entry, "\n") // the timestamp
		what, rest, ok := strings.Cut(rest, "\n")
		m := fullMessageSize.FindStringSubmatch(what)
		if !ok || m == nil {
			continue
		}
		size, _ := strconv.Atoi(m[2])
		rest = strings.TrimPrefix(rest, "\n")
		if len(rest) < size {
			continue // sipp is still writing it
		}
		msgs = append(msgs, FullMessage{Sent: m[1] == "sent", Text: rest[:size]})
	}
	return msgs
}

// Requests returns the requests with this method sipp received so far, in
// full, retransmissions included.
func (l Logs) Requests(method string) ([]FullMessage, error) {
	msgs, err := l.FullMessages()
	if err != nil {
		return nil, err
	}
	var out []FullMessage
	for _, m := range msgs {
		if !m.Sent && m.Method() == method {
			out = append(out, m)
		}
	}
	return out, nil
}

// WaitRequests waits until sipp has received n requests with this method
// (distinct CSeq: retransmissions do not count) and returns the first of
// each, or fails the test after WaitTimeout.
func (l Logs) WaitRequests(t testing.TB, method string, n int) []FullMessage {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for {
		reqs, err := l.Requests(method)
		if err != nil {
			t.Fatal(err)
		}
		var distinct []FullMessage
		seen := map[string]bool{}
		for _, r := range reqs {
			key := r.Header("Call-ID") + "|" + r.Header("CSeq")
			if !seen[key] {
				seen[key] = true
				distinct = append(distinct, r)
			}
		}
		if len(distinct) >= n {
			return distinct
		}
		if time.Now().After(deadline) {
			msgs, _ := l.Messages()
			t.Fatalf("siptest: %s: not seen within %s; sipp logged:\n%s", fmt.Sprintf("%d %s received", n, method), WaitTimeout, dump(msgs))
		}
		time.Sleep(pollEvery)
	}
}
