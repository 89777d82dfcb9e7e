package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAfterCallWorkSurvivesKill (issue 10): ringback is killed (-9) while
// an agent is in After Call Work; the process started after the stored end
// sets the agent Ready, once, and a desktop resuming with the id it last
// saw before the kill gets exactly that.
func TestAfterCallWorkSurvivesKill(t *testing.T) {
	const acw = 3 * time.Second
	args := []string{"--data", t.TempDir(), "--sip", freePort(t, "udp"), "--agent-session.after-call-work", acw.String(),
		"--disposition.required=false"}
	p := start(t, "ringback", args...)
	a := api{t: t, route: func(string, string) string { return p.URL }}
	a.do("POST", "/v1/agents/k1/session", map[string]string{})
	a.do("PUT", "/v1/agents/k1/state", map[string]string{"channel": "webcallback", "state": "READY"})
	pushed := a.events("k1")
	seen := 0
	a.do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550178", "subject": "After call work"})
	offer := pushed.waitFor(t, &seen, "offer", func(e sseEvent) bool { return e.Name == "offer" })
	var ix struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	_ = json.Unmarshal(offer.Data, &ix)
	a.do("POST", "/v1/interactions/"+ix.ID+"/accept", nil)
	a.eventually("/v1/interactions/"+ix.ID, &ix, "Ready to Call", func() bool { return ix.Status == "Ready to Call" })
	if r := a.do("POST", "/v1/interactions/"+ix.ID+"/done", nil); r.Status != 200 {
		t.Fatalf("done: %d %s", r.Status, r.Body)
	}
	type agentView struct {
		Channels map[string]struct {
			State string    `json:"state"`
			Since time.Time `json:"since"`
		} `json:"channels"`
	}
	var inACW agentView
	acwEvent := pushed.waitFor(t, &seen, "After Call Work pushed", func(e sseEvent) bool {
		return e.Name == "state" && json.Unmarshal(e.Data, &inACW) == nil && inACW.Channels["webcallback"].State == "AFTER_CALL_WORK"
	})

	if err := p.kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	time.Sleep(time.Until(inACW.Channels["webcallback"].Since.Add(acw)))

	p2 := start(t, "ringback", args...)
	a2 := api{t: t, route: func(string, string) string { return p2.URL }}
	var ag agentView
	a2.eventually("/v1/agents/k1", &ag, "Ready after the restart", func() bool { return ag.Channels["webcallback"].State == "READY" })
	if since := ag.Channels["webcallback"].Since; since.Sub(inACW.Channels["webcallback"].Since) < acw {
		t.Fatalf("Ready at %v, before the stored end of After Call Work begun %v", since, inACW.Channels["webcallback"].Since)
	}
	// The desktop comes back with the id it saw last: one change since, Ready.
	resumed := a2.eventsFrom("k1", acwEvent.ID)
	from := 0
	ready := resumed.waitFor(t, &from, "Ready pushed on resume", func(e sseEvent) bool { return e.Name == "state" })
	_ = json.Unmarshal(ready.Data, &ag)
	if ag.Channels["webcallback"].State != "READY" || ready.ID == acwEvent.ID {
		t.Fatalf("resumed with %s %s", ready.ID, ready.Data)
	}
	time.Sleep(500 * time.Millisecond)
	if n := resumed.count(); n != 1 {
		t.Fatalf("%d events after After Call Work began, want the one Ready", n)
	}
}

// eventsFrom is events resuming after lastID (Last-Event-ID), as a
// desktop's EventSource does when it reconnects.
func (a api) eventsFrom(agent, lastID string) *stream {
	a.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a.t.Cleanup(cancel)
	path := "/v1/agents/" + agent + "/events"
	req, _ := http.NewRequestWithContext(ctx, "GET", a.route("GET", path)+path, nil)
	req.Header.Set("Last-Event-ID", lastID)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		a.t.Fatalf("events after %s: %v %v", lastID, err, res)
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

// count is how many events the stream received so far.
func (s *stream) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}
