package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// A callback the platform answered 201 is there after the process is
// killed (SIGKILL) in the middle of a flood of new contacts and started
// again on its data directory, with its number readable: the key its
// request was sealed with reached the disk before the request did (the
// key log's puts are synced by the store's writer before each batch,
// issue 12), and the key log's recovery keeps every key an event names.
func TestAcknowledgedCallbacksSurviveAKill(t *testing.T) {
	data := t.TempDir()
	p := start(t, "ringback", "--data", data, "--sip", freePort(t, "udp"))

	var (
		mu    sync.Mutex
		acked = map[string]string{} // callback id → its number
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	client := &http.Client{Timeout: 5 * time.Second}
	for w := range 16 {
		wg.Go(func() {
			for i := range 600 {
				select {
				case <-stop:
					return
				default:
				}
				number := fmt.Sprintf("+1415555%04d", w*600+i)
				body, _ := json.Marshal(map[string]string{"service": "support", "phone_number": number, "subject": "killed"})
				res, err := client.Post(p.URL+"/v1/callbacks", "application/json", bytes.NewReader(body))
				if err != nil {
					continue // the kill
				}
				var cb struct{ ID string }
				_ = json.NewDecoder(res.Body).Decode(&cb)
				res.Body.Close()
				if res.StatusCode == http.StatusCreated {
					mu.Lock()
					acked[cb.ID] = number
					mu.Unlock()
				}
			}
		})
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d callbacks accepted in 30s", n)
		}
	}
	_ = p.kill() // mid-flood: requests are being written
	<-p.done
	close(stop)
	wg.Wait()

	q := start(t, "ringback", "--data", data, "--sip", freePort(t, "udp"))
	a := api{t: t, route: func(string, string) string { return q.URL }}
	lost, unreadable := 0, 0
	for id, number := range acked {
		r := a.do("GET", "/v1/callbacks/"+id, nil)
		var cb struct {
			PhoneNumber string `json:"phone_number"`
		}
		_ = json.Unmarshal(r.Body, &cb)
		switch {
		case r.Status != http.StatusOK:
			lost++
			if lost <= 3 {
				t.Errorf("callback %s, answered 201 before the kill, reads %d after: %s", id, r.Status, r.Body)
			}
		case cb.PhoneNumber != number:
			unreadable++
			if unreadable <= 3 {
				t.Errorf("callback %s reads its number as %q after the kill, want %s", id, cb.PhoneNumber, number)
			}
		}
	}
	t.Logf("%d callbacks answered 201 before the kill: %d lost, %d unreadable after it", len(acked), lost, unreadable)
}
