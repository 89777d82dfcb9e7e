package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/ringback/ringback/libs/bus/kafka/kafkatest"
	"github.com/ringback/ringback/libs/eventstore/postgres/pgtest"
)

// TestIntakeReplicasAdmitOneCallbackPerNumber: two intake processes on one
// PostgreSQL store, creates for the same numbers fired at both at once.
// Per number exactly one is accepted and every other answers 409 naming
// phone_number; once the winner is cancelled through the other replica,
// the number is free on both, and both list it cancelled at once. No lock is shared but the store's expected
// revision on the number's claim stream (services/intake/admit.go).
func TestIntakeReplicasAdmitOneCallbackPerNumber(t *testing.T) {
	db := pgtest.Database(t)
	brokers := strings.Join(kafkatest.StartBroker(t), ",")
	args := []string{"--target", "intake", "--bus", "kafka", "--kafka-brokers", brokers, "--eventstore", db}
	a := start(t, "intake-a", append(args, "--data", t.TempDir())...)
	b := start(t, "intake-b", append(args, "--data", t.TempDir())...)
	replicas := []*proc{a, b}

	const numbers, tries = 5, 30
	post := func(p *proc, number string) (int, string) {
		body := fmt.Sprintf(`{"service":"support","phone_number":%q}`, number)
		res, err := http.Post(p.URL+"/v1/callbacks", "application/json", strings.NewReader(body))
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		raw, _ := readAll(res)
		return res.StatusCode, string(raw)
	}
	for round := range 2 {
		var (
			mu       sync.Mutex
			created  = map[string][]string{} // number -> bodies of its 201s
			refused  = map[string]int{}
			wg       sync.WaitGroup
			starting = make(chan struct{})
		)
		for n := range numbers {
			number := fmt.Sprintf("+442079461%03d", n) // Ofcom's drama range
			for i := range tries {
				wg.Go(func() {
					<-starting
					code, body := post(replicas[i%2], number)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case code == http.StatusCreated:
						created[number] = append(created[number], body)
					case code == http.StatusConflict && strings.Contains(body, `"field":"phone_number"`):
						refused[number]++
					default:
						t.Errorf("%s: %d %s", number, code, body)
					}
				})
			}
		}
		close(starting)
		wg.Wait()
		for n := range numbers {
			number := fmt.Sprintf("+442079461%03d", n)
			if len(created[number]) != 1 || refused[number] != tries-1 {
				t.Fatalf("round %d, %s: %d accepted, %d refused; want 1 and %d", round, number,
					len(created[number]), refused[number], tries-1)
			}
			// Cancel the winner through the replica that did not take it
			// (either will do): the number is free again for the next round.
			var cb struct{ ID string }
			reply{Status: 201, Body: []byte(created[number][0])}.decode(t, &cb)
			req, _ := http.NewRequest("DELETE", b.URL+"/v1/callbacks/"+cb.ID, nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("cancel %s: %v %v", cb.ID, err, res)
			}
			res.Body.Close()
			// Either replica lists it at once as cancelled, the one that
			// did not write it too (its index waits for the store's head),
			// after the number's earlier rounds.
			for _, p := range replicas {
				res, err := http.Get(p.URL + "/v1/callbacks?phone_number=" + url.QueryEscape(number))
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := readAll(res)
				var l struct{ Items []struct{ ID, State string } }
				reply{Status: res.StatusCode, Body: raw}.decode(t, &l)
				if res.StatusCode != http.StatusOK || len(l.Items) != round+1 || l.Items[0].ID != cb.ID || l.Items[0].State != "CANCELLED" {
					t.Fatalf("round %d, %s listed by %s: %d %s", round, number, p.URL, res.StatusCode, raw)
				}
			}
		}
	}

	// Issue 12: at most 3 open callbacks per number across services, exact
	// across the two processes: 40 requests at once for one number, over 10
	// services, through both replicas.
	var (
		mu       sync.Mutex
		codes    = map[int]int{}
		wg       sync.WaitGroup
		starting = make(chan struct{})
	)
	for i := range 40 {
		wg.Go(func() {
			<-starting
			body := fmt.Sprintf(`{"service":"svc-%d","phone_number":"+442079461999"}`, i%10)
			res, err := http.Post(replicas[i%2].URL+"/v1/callbacks", "application/json", strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			raw, _ := readAll(res)
			if res.StatusCode == http.StatusConflict && !strings.Contains(string(raw), `"field":"phone_number"`) {
				t.Errorf("409 without field phone_number: %s", raw)
			}
			mu.Lock()
			codes[res.StatusCode]++
			mu.Unlock()
		})
	}
	close(starting)
	wg.Wait()
	if codes[http.StatusCreated] != 3 || codes[http.StatusConflict] != 37 {
		t.Fatalf("one number, 10 services, 40 requests: %v; want 3 created (the cap) and 37 refused", codes)
	}
}
