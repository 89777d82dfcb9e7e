package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ringback/ringback/libs/bus/kafka/kafkatest"
	"github.com/ringback/ringback/libs/eventstore/postgres/pgtest"
	"github.com/ringback/ringback/libs/netstall"
	"github.com/ringback/ringback/libs/siptest"
)

// TestStoreStallOutlived: the shared store stops answering for longer than
// any lease lives and any request waits (every byte held both ways, every
// connection left open, as a stalled disk or a failover shows it), while
// callbacks keep coming. No replica may exit over it: a store that is slow
// for seconds must not turn into every pod of the deployment restarting at
// once. Requests during the stall fail with a 5xx problem the client can
// retry; once the store answers again every request goes through and every
// callback reaches its queue.
func TestStoreStallOutlived(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: ten processes and a stalled store")
	}
	proxy, db := startStallProxy(t, pgtest.Database(t))
	stallOutlived(t, proxy.stall, db, strings.Join(kafkatest.StartBroker(t), ","))
}

// TestBusStallOutlived is the same with Kafka stalled instead: every byte
// to and from the broker held for 15 s, past the consumer groups' session
// timeout (10 s) and the relay's lease, with every connection left open.
// Callbacks are taken all along (the store answers); none may be lost on
// the way to history, and no replica may exit: the relay that leads
// contends again, the consumers subscribe again.
func TestBusStallOutlived(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: ten processes and a stalled bus")
	}
	var g netstall.Gate
	brokers := kafkatest.StartBroker(t, kfake.ListenFn(func(network, _ string) (net.Listener, error) {
		ln, err := net.Listen(network, "127.0.0.1:0")
		return netstall.Listener(ln, &g), err
	}))
	stallOutlived(t, g.Stall, pgtest.Database(t), strings.Join(brokers, ","))
}

// stallOutlived runs ten replicas on the store db and the bus brokers,
// keeps callbacks coming, and calls stall (which returns when the stall
// ends): no replica may exit, and every callback must reach its queue.
func stallOutlived(t *testing.T, stall func(time.Duration), db, brokers string) {
	sayWhyLast(t)
	siptest.Sipp(t)
	trunk := siptest.StartUAS(t, siptest.Answer)
	rs := &replicaSet{t: t, procs: map[string][]*proc{}, ready: 2 * time.Minute,
		args: []string{"--bus", "kafka", "--kafka-brokers", brokers, "--eventstore", db}}
	for _, s := range []string{"intake", "scheduler", "history"} {
		rs.start(s)
		rs.start(s)
	}
	for _, s := range []string{"disposition", "agent-session", "router"} {
		rs.start(s)
	}
	rs.start("media-gateway", "--sip", freePort(t, "udp"), "--sip-trunk", trunk.Addr, "--media.trunk-keepalive", "0")

	// Longer than every lease's TTL and intake's write timeout (10 s).
	const stallFor = 15 * time.Second
	number := func(i int) string { return fmt.Sprintf("+442079461%03d", i) } // Ofcom's drama range
	var (
		mu       sync.Mutex
		ids      []string
		failures = map[string]int{} // status (or error) of each failed attempt
		next     atomic.Int64
		done     = make(chan struct{})
	)
	// create retries with the same key until it is taken, as a client
	// does; what failed, and how, is counted.
	create := func(i int) (string, error) {
		body := fmt.Sprintf(`{"service":"support","phone_number":%q,"subject":"Order %d"}`, number(i), i)
		deadline := time.Now().Add(stallFor + 90*time.Second)
		for attempt := 0; ; attempt++ {
			live := rs.live("intake")
			if len(live) == 0 { // both exited: the harness names them and their logs
				return "", fmt.Errorf("create %d: no intake replica is up", i)
			}
			p := live[(i+attempt)%len(live)]
			req, _ := http.NewRequest("POST", p.URL+"/v1/callbacks", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", fmt.Sprintf("stall-%d", i))
			res, err := http.DefaultClient.Do(req)
			why := ""
			if err != nil {
				why = "transport: " + err.Error()
			} else {
				r := reply{Status: res.StatusCode}
				r.Body, _ = readAll(res)
				switch {
				case r.Status == http.StatusCreated || r.Status == http.StatusOK:
					var cb struct{ ID string }
					r.decode(t, &cb)
					return cb.ID, nil
				case r.Status < 500:
					return "", fmt.Errorf("create %d: %d %s", i, r.Status, r.Body)
				case res.Header.Get("Content-Type") != "application/problem+json":
					return "", fmt.Errorf("create %d: %d in %s, not a problem: %s", i, r.Status, res.Header.Get("Content-Type"), r.Body)
				}
				why = fmt.Sprint(r.Status)
			}
			mu.Lock()
			failures[why]++
			mu.Unlock()
			if time.Now().After(deadline) {
				return "", fmt.Errorf("create %d: not taken %v after the stall; the last attempt: %s", i, 90*time.Second, why)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				i := int(next.Add(1)) - 1
				id, err := create(i)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for len(ids) <= i {
					ids = append(ids, "")
				}
				ids[i] = id
				mu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	time.Sleep(5 * time.Second)
	before := next.Load()
	t.Logf("the stall of %v begins at callback %d", stallFor, before)
	stall(stallFor)
	ended := time.Now()
	at := next.Load()
	// Taken again: a request begun after the stall is answered.
	for next.Load() < at+8 && time.Since(ended) < 90*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("callbacks go in again %v after the stall ended (callback %d to %d)", time.Since(ended).Round(time.Millisecond), at, next.Load())
	time.Sleep(3 * time.Second)
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		errorf(t, "%v", err)
	}
	mu.Lock()
	t.Logf("%d callbacks taken; failed attempts by answer: %v", len(ids), failures)
	mu.Unlock()
	for _, s := range []string{"intake", "scheduler", "history", "disposition", "agent-session", "router", "media-gateway"} {
		for _, p := range rs.procs[s] {
			select {
			case <-p.done:
				fatalf(t, "%s exited over the stall (%v):\n%s", s, p.cmd.ProcessState, p.tail())
			default:
			}
		}
	}
	if t.Failed() {
		return
	}

	// Every callback reaches its queue, as every history replica tells.
	deadline := time.Now().Add(90 * time.Second)
	for _, p := range rs.live("history") {
		a := api{t: t, route: func(string, string) string { return p.URL }}
		for i, id := range ids {
			path := "/v1/contacts/" + url.PathEscape(number(i)) + "/history"
			for {
				var rows []struct {
					CallbackID    string `json:"callback_id"`
					InteractionID string `json:"interaction_id"`
				}
				r := a.do("GET", path, nil)
				if r.Status == 200 {
					r.decode(t, &rows)
				}
				if len(rows) == 1 && rows[0].CallbackID == id && rows[0].InteractionID != "" {
					break
				}
				if time.Now().After(deadline) {
					fatalf(t, "history %s: callback %d (%s) not queued after the stall: %d %s", p.URL, i, id, r.Status, r.Body)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	t.Logf("every callback queued, as both history replicas tell")
}
