package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/bus/kafka/kafkatest"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/postgres"
	"github.com/ringback/ringback/libs/eventstore/postgres/pgtest"
	"github.com/ringback/ringback/libs/siptest"
)

// replicaSet is every process of a distributed deployment, by service.
type replicaSet struct {
	t     *testing.T
	args  []string // shared by every process: bus and store
	procs map[string][]*proc
	mu    sync.Mutex
	// ready bounds the wait for a new replica's /readyz; 0 is start's.
	ready time.Duration
}

func (rs *replicaSet) start(service string, extra ...string) *proc {
	rs.t.Helper()
	// Each process has a --data of its own that does not outlive it, as a
	// pod's emptyDir: nothing that matters may be kept there.
	args := append(append([]string{"--target", service, "--data", rs.t.TempDir()}, rs.args...), extra...)
	within := rs.ready
	if within == 0 {
		within = 30 * time.Second
	}
	p := startWithin(rs.t, within, service, args...)
	rs.mu.Lock()
	rs.procs[service] = append(rs.procs[service], p)
	rs.mu.Unlock()
	return p
}

// live returns the running replicas of service.
func (rs *replicaSet) live(service string) []*proc {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var out []*proc
	for _, p := range rs.procs[service] {
		select {
		case <-p.done:
		default:
			out = append(out, p)
		}
	}
	return out
}

// kill9 kills a replica as the kernel would (no shutdown at all), and
// waits until it is gone.
func (p *proc) kill9(t *testing.T) {
	t.Helper()
	_ = p.kill()
	<-p.done
}

// kill sends SIGKILL, and marks the process as ended by the test.
func (p *proc) kill() error {
	p.ended.Store(true)
	return p.cmd.Process.Kill()
}

// TestSharedStoreReplicasLoseNothing is the distributed mode on one shared
// PostgreSQL store and a Kafka broker: two replicas each of intake,
// scheduler, history, disposition and agent-session. 500 callbacks go in
// through both intake replicas while one history and one intake replica
// are killed with SIGKILL and replaced by new pods (new, empty --data).
// Afterwards every callback is readable from every intake replica, every
// history replica tells the same whole trail, and the store holds every
// stream once and in order.
func TestSharedStoreReplicasLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: twelve processes and 500 callbacks")
	}
	sayWhyLast(t)
	siptest.Sipp(t)
	db := pgtest.Database(t)
	brokers := strings.Join(kafkatest.StartBroker(t), ",")
	trunk := siptest.StartUAS(t, siptest.Answer)
	// A pod replacing one killed with SIGKILL joins consumer groups that
	// still count the dead member until its session times out (10 s), then
	// rebalance; on a loaded 2-core machine with race-built replicas that
	// has taken more than 30 s (CI of stop 21), so the wait is the chaos
	// test's. How long it took is logged.
	rs := &replicaSet{t: t, procs: map[string][]*proc{}, ready: 2 * time.Minute,
		args: []string{"--bus", "kafka", "--kafka-brokers", brokers, "--eventstore", db}}
	for _, s := range []string{"intake", "scheduler", "history", "disposition", "agent-session"} {
		rs.start(s)
		rs.start(s)
	}
	rs.start("router")
	rs.start("media-gateway", "--sip", freePort(t, "udp"), "--sip-trunk", trunk.Addr, "--media.trunk-keepalive", "0")

	const total = 500
	number := func(i int) string { return fmt.Sprintf("+442079460%03d", i) } // Ofcom's drama range
	var (
		ids      = make([]string, total)
		accepted atomic.Int64
		next     atomic.Int64
	)
	// Creates go to whichever intake replica is up, as a Service would send
	// them; a request to a replica that dies under it is retried elsewhere
	// with the same Idempotency-Key, as a client would.
	create := func(i int) error {
		body := fmt.Sprintf(`{"service":"support","phone_number":%q,"subject":"Order %d"}`, number(i), i)
		var last string // why the last attempt failed
		for attempt := 0; attempt < 50; attempt++ {
			live := rs.live("intake")
			if len(live) == 0 {
				last = "no intake replica was up"
				time.Sleep(50 * time.Millisecond)
				continue
			}
			p := live[(i+attempt)%len(live)]
			req, _ := http.NewRequest("POST", p.URL+"/v1/callbacks", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", fmt.Sprintf("shared-store-%d", i))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				last = err.Error()
				time.Sleep(50 * time.Millisecond)
				continue
			}
			var cb struct{ ID string }
			r := reply{Status: res.StatusCode}
			r.Body, _ = readAll(res)
			if r.Status != http.StatusCreated && r.Status != http.StatusOK {
				if r.Status >= 500 {
					last = fmt.Sprintf("%s answered %d %s", p.URL, r.Status, r.Body)
					time.Sleep(50 * time.Millisecond)
					continue
				}
				return fmt.Errorf("create %d: %d %s", i, r.Status, r.Body)
			}
			r.decode(t, &cb)
			ids[i] = cb.ID
			accepted.Add(1)
			return nil
		}
		return fmt.Errorf("create %d: no intake replica took it; the last attempt: %s", i, last)
	}

	var wg sync.WaitGroup
	errs := make(chan error, total)
	// About 40 callbacks a second, so that the kills and the new pods'
	// starts fall in the middle of the run.
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				if err := create(i); err != nil {
					errs <- err
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	// Mid-run, kill -9 a history replica and an intake replica; new pods
	// (empty --data) replace them.
	for k, victim := range []string{"history", "intake"} {
		for next.Load() < int64(total*(k+1)/4) {
			time.Sleep(5 * time.Millisecond)
		}
		v := rs.live(victim)[rand.IntN(2)]
		t.Logf("kill -9 %s (%s) at callback %d", victim, v.URL, next.Load())
		v.kill9(t)
		began := time.Now()
		rs.start(victim)
		t.Logf("new %s replica ready at callback %d, %v after the kill", victim, next.Load(), time.Since(began).Round(time.Millisecond))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		errorf(t, "%v", err)
	}
	if t.Failed() {
		return
	}
	t.Logf("%d callbacks accepted", accepted.Load())

	// Every callback is readable from every intake replica.
	for _, p := range rs.live("intake") {
		for i, id := range ids {
			res, err := http.Get(p.URL + "/v1/callbacks/" + id)
			if err != nil {
				fatalf(t, "%v", err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				fatalf(t, "intake %s: callback %d (%s) answers %d", p.URL, i, id, res.StatusCode)
			}
		}
	}

	// Every history replica knows every callback's interaction, queued,
	// and tells the same trail: each event once, in order.
	wantInTrail := []string{"CallbackRequested", "CallbackScheduled", "CallbackDue", "InteractionQueued"}
	trails := map[string]string{}
	deadline := time.Now().Add(60 * time.Second)
	for _, p := range rs.live("history") {
		a := api{t: t, route: func(string, string) string { return p.URL }}
		for i := range total {
			var rows []struct {
				CallbackID    string `json:"callback_id"`
				InteractionID string `json:"interaction_id"`
			}
			path := "/v1/contacts/" + url.PathEscape(number(i)) + "/history"
			for {
				r := a.do("GET", path, nil)
				if r.Status == 200 {
					r.decode(t, &rows)
				}
				if len(rows) == 1 && rows[0].InteractionID != "" {
					break
				}
				if time.Now().After(deadline) {
					fatalf(t, "history %s: callback %d: %d %s", p.URL, i, r.Status, r.Body)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if rows[0].CallbackID != ids[i] {
				fatalf(t, "history %s: number %d has callback %s, want %s", p.URL, i, rows[0].CallbackID, ids[i])
			}
			var trail []struct{ ID, Type string }
			var got string
			for {
				r := a.do("GET", "/v1/interactions/"+rows[0].InteractionID+"/events", nil)
				r.decode(t, &trail)
				got = trailTypes(trail)
				if hasInOrder(typesOf(trail), wantInTrail...) || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if !hasInOrder(typesOf(trail), wantInTrail...) {
				fatalf(t, "history %s: callback %d trail %s, want %v in order", p.URL, i, got, wantInTrail)
			}
			seen := map[string]bool{}
			for _, e := range trail {
				if seen[e.ID] {
					fatalf(t, "history %s: callback %d: event %s (%s) twice in %s", p.URL, i, e.ID, e.Type, got)
				}
				seen[e.ID] = true
			}
			if prev, ok := trails[ids[i]]; ok && prev != got {
				fatalf(t, "callback %d: history replicas disagree:\n%s\n%s", i, prev, got)
			}
			trails[ids[i]] = got
		}
	}

	// The store itself: every stream's revisions run 0, 1, 2... with no
	// event id twice, and $all delivers each event once in increasing order.
	st, err := postgres.Open(t.Context(), db)
	if err != nil {
		fatalf(t, "%v", err)
	}
	defer st.Close()
	events, streams := scanStore(t, st, nil)
	t.Logf("store: %d events in %d streams, each once and in order; %d trails agree on %d history replicas",
		events, streams, len(trails), len(rs.live("history")))
}

// scanStore reads the whole store up to its head and checks that positions
// increase, every stream's revisions run 0, 1, 2... and no event id comes
// twice in a stream; visit, if set, sees every event too. It returns the
// counts of events and streams.
func scanStore(t *testing.T, st *postgres.Store, visit func(eventstore.RecordedEvent) error) (events, streams int) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	head, err := st.Head(ctx)
	if err != nil {
		fatalf(t, "%v", err)
	}
	perStream := map[string]uint64{}
	ids := map[string]bool{}
	var last eventstore.Position
	err = st.SubscribeAll(ctx, eventstore.Position{}, func(_ context.Context, e eventstore.RecordedEvent) error {
		if !last.Less(e.Position) {
			return fmt.Errorf("position %v after %v", e.Position, last)
		}
		last = e.Position
		if e.Revision != perStream[e.Stream] {
			return fmt.Errorf("%s: revision %d, want %d", e.Stream, e.Revision, perStream[e.Stream])
		}
		perStream[e.Stream]++
		if ids[e.Stream+"/"+e.ID] {
			return fmt.Errorf("%s: event %s twice", e.Stream, e.ID)
		}
		ids[e.Stream+"/"+e.ID] = true
		events++
		if visit != nil {
			if err := visit(e); err != nil {
				return err
			}
		}
		if !e.Position.Less(head) {
			cancel()
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		fatalf(t, "%v", err)
	}
	return events, len(perStream)
}

func typesOf(trail []struct{ ID, Type string }) []struct{ Type string } {
	out := make([]struct{ Type string }, len(trail))
	for i, e := range trail {
		out[i].Type = e.Type
	}
	return out
}

func trailTypes(trail []struct{ ID, Type string }) string {
	var b strings.Builder
	for i, e := range trail {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(e.Type)
	}
	return b.String()
}

func readAll(res *http.Response) ([]byte, error) {
	defer res.Body.Close()
	return io.ReadAll(res.Body)
}
