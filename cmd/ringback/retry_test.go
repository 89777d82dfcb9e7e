package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/clock"
	"github.com/ringback/ringback/libs/siptest"
)

// fakeTimeApp runs every service in this process on a fake clock, with
// sipp as the trunk (contact) and as the agent's phone, and returns the
// base URL and the clock. SIP runs in real time; the schedule in fake time.
func fakeTimeApp(t *testing.T, start time.Time, contact *siptest.UAS, flags ...string) (string, *clock.Fake) {
	t.Helper()
	addr := freePort(t, "tcp")
	args := append([]string{"--http=" + addr, "--sip=" + siptest.FreeAddr(t), "--sip-trunk=" + contact.Addr,
		"--data=" + t.TempDir(), "--log-level=error", "--media.contact-ring-timeout=1s", "--media.trunk-keepalive=0"}, flags...)
	fake := clock.NewFake(start)
	runInProcess(t, addr, args, func(a *App) { a.Clock = fake })
	return "http://" + addr, fake
}

func call(t *testing.T, method, url string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		_ = json.NewDecoder(res.Body).Decode(out)
	}
	return res.StatusCode
}

type callbackState struct {
	State         string   `json:"state"`
	InteractionID string   `json:"interaction_id"`
	Attempts      int      `json:"attempts"`
	Reason        string   `json:"reason"`
	ScheduledFor  string   `json:"scheduled_for"`
	Moves         []string `json:"moves"`
}

func waitCallback(t *testing.T, url, id, what string, cond func(callbackState) bool) callbackState {
	t.Helper()
	var cb callbackState
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		cb = callbackState{}
		if call(t, "GET", url+"/v1/callbacks/"+id, nil, &cb) == http.StatusOK && cond(cb) {
			return cb
		}
	}
	t.Fatalf("callback never %s; last %+v", what, cb)
	return cb
}

// TestContactRetriedThenFails (issue 11): with the default policy a busy
// contact is tried again by the scheduler 5 and 10 minutes later (fake
// time), one who does not answer 15 and 30 minutes later, each attempt a
// new interaction offered to the agent; after the third the callback
// completes as FAIL_BUSY or FAIL_NO_ANSWER.
func TestContactRetriedThenFails(t *testing.T) {
	siptest.Sipp(t)
	for _, c := range []struct {
		name     string
		scenario siptest.Scenario
		delays   []time.Duration
		reason   string
	}{
		{"busy", siptest.Busy, []time.Duration{5 * time.Minute, 10 * time.Minute}, "FAIL_BUSY"},
		{"no answer", siptest.NoAnswer, []time.Duration{15 * time.Minute, 30 * time.Minute}, "FAIL_NO_ANSWER"},
	} {
		t.Run(c.name, func(t *testing.T) { retriedThenFails(t, c.scenario, c.delays, c.reason) })
	}
}

func retriedThenFails(t *testing.T, scenario siptest.Scenario, delays []time.Duration, reason string) {
	phone := siptest.StartUAS(t, siptest.Answer)
	contact := siptest.StartUAS(t, scenario)
	// 10:00 in Los Angeles, the number's zone: inside the calling window.
	start := time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC)
	url, fake := fakeTimeApp(t, start, contact)
	if s := call(t, "POST", url+"/v1/agents/a1/session", map[string]string{"phone_uri": "sip:a1@" + phone.Addr}, nil); s != 200 {
		t.Fatalf("login: %d", s)
	}
	if s := call(t, "PUT", url+"/v1/agents/a1/state", map[string]string{"channel": "webcallback", "state": "READY"}, nil); s != 200 {
		t.Fatalf("ready: %d", s)
	}
	var created struct{ ID string }
	if s := call(t, "POST", url+"/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550102"}, &created); s != 201 {
		t.Fatalf("create: %d", s)
	}
	var seen []string
	for attempt, delay := range append([]time.Duration{0}, delays...) {
		if delay > 0 {
			fake.Advance(delay)
		}
		cb := waitCallback(t, url, created.ID, fmt.Sprintf("queued for attempt %d", attempt+1), func(c callbackState) bool {
			return c.State == "QUEUED" && c.InteractionID != "" && (len(seen) == 0 || c.InteractionID != seen[len(seen)-1])
		})
		seen = append(seen, cb.InteractionID)
		ix := "/v1/interactions/" + cb.InteractionID
		var v struct {
			Phase    string `json:"phase"`
			Status   string `json:"status"`
			Attempts int    `json:"attempts"`
		}
		for deadline := time.Now().Add(30 * time.Second); v.Phase != "offered"; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("attempt %d never offered: %+v", attempt+1, v)
			}
			call(t, "GET", url+ix, nil, &v)
		}
		if v.Attempts != attempt {
			t.Errorf("offer of attempt %d shows %d attempts made", attempt+1, v.Attempts)
		}
		if s := call(t, "POST", url+ix+"/accept", nil, nil); s != 200 {
			t.Fatalf("accept %d: %d", attempt+1, s)
		}
		if s := call(t, "POST", url+ix+"/call", nil, nil); s != 200 {
			t.Fatalf("call %d: %d", attempt+1, s)
		}
		if attempt < 2 {
			cb = waitCallback(t, url, created.ID, "rescheduled for the retry", func(c callbackState) bool {
				// The interaction's Done says SCHEDULED first; the
				// scheduler's move then says when and why.
				return c.State == "SCHEDULED" && c.Attempts == attempt+1 && len(c.Moves) == attempt+1
			})
			want := fake.Now().Add(delays[attempt])
			if got, _ := time.Parse(time.RFC3339Nano, cb.ScheduledFor); !got.Equal(want) || len(cb.Moves) != attempt+1 {
				t.Fatalf("retry %d due %s, want %s; moves %q", attempt+1, cb.ScheduledFor, want, cb.Moves)
			}
		}
	}
	cb := waitCallback(t, url, created.ID, "completed as "+reason, func(c callbackState) bool { return c.State == "COMPLETED" })
	if cb.Reason != reason || cb.Attempts != 3 {
		t.Fatalf("final: %+v", cb)
	}
	// No fourth attempt, however long we wait.
	fake.Advance(24 * time.Hour)
	time.Sleep(200 * time.Millisecond)
	if got := waitCallback(t, url, created.ID, "still completed", func(callbackState) bool { return true }); got.State != "COMPLETED" || got.InteractionID != seen[2] {
		t.Fatalf("after a day: %+v", got)
	}
}
