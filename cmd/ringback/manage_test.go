package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRescheduleAndListThroughTheApp (issue 12): in the single-process
// app, PUT /v1/callbacks/{id} reaches the scheduler over the bus, which
// moves the due time; the callback then shows it, and GET /v1/callbacks
// finds it among the scheduled.
func TestRescheduleAndListThroughTheApp(t *testing.T) {
	addr := freePort(t, "tcp")
	runInProcess(t, addr, []string{"--http=" + addr, "--sip=127.0.0.1:0", "--data=" + t.TempDir(), "--log-level=error",
		"--media.trunk-keepalive=0", "--scheduler.calling-window=00:00-24:00", "--agent-session.calling-window=00:00-24:00"}, nil)
	url := "http://" + addr
	// Nobody is logged in: the callback waits in the queue, QUEUED.
	var cb struct{ ID string }
	if st := call(t, "POST", url+"/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550123"}, &cb); st != http.StatusCreated {
		t.Fatalf("POST: %d", st)
	}
	waitCallback(t, url, cb.ID, "queued", func(c callbackState) bool { return c.State == "QUEUED" && c.InteractionID != "" })
	queued := func(n int) {
		t.Helper()
		var q struct {
			Waiting int `json:"waiting"`
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if call(t, "GET", url+"/v1/queues/support", nil, &q) == http.StatusOK && q.Waiting == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d waiting, want %d", q.Waiting, n)
			}
		}
	}
	queued(1)

	wish := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Second)
	var got callbackState
	if st := call(t, "PUT", url+"/v1/callbacks/"+cb.ID, map[string]any{"desired_time": wish.Format(time.RFC3339)}, &got); st != http.StatusOK || got.State != "SCHEDULED" {
		t.Fatalf("PUT: %d %+v", st, got)
	}
	// The scheduler's CallbackRescheduled comes back as a move.
	waitCallback(t, url, cb.ID, "rescheduled by the scheduler", func(c callbackState) bool {
		return c.State == "SCHEDULED" && c.ScheduledFor == wish.Format(time.RFC3339) &&
			slices.ContainsFunc(c.Moves, func(m string) bool { return strings.HasPrefix(m, "rescheduled") })
	})
	var sched struct {
		Status string    `json:"status"`
		DueAt  time.Time `json:"due_at"`
	}
	if st := call(t, "GET", url+"/v1/schedule/"+cb.ID, nil, &sched); st != http.StatusOK || sched.Status != "pending" || !sched.DueAt.Equal(wish) {
		t.Fatalf("schedule: %d %+v", st, sched)
	}
	var l struct {
		Items []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"items"`
	}
	if st := call(t, "GET", url+"/v1/callbacks?state=SCHEDULED&phone_number=%2B14155550123", nil, &l); st != http.StatusOK ||
		len(l.Items) != 1 || l.Items[0].ID != cb.ID {
		t.Fatalf("list: %d %+v", st, l)
	}
	// The router took it out of the queue.
	queued(0)
}
