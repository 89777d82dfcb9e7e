package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/bus/kafka/kafkatest"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/postgres"
	"github.com/ringback/ringback/libs/eventstore/postgres/pgtest"
	"github.com/ringback/ringback/libs/personal"
	"github.com/ringback/ringback/libs/siptest"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

// chaosSize is how many callbacks the chaos test takes to Done and how
// often it kills a replica: a short run in make test, a long one in make
// chaos (RINGBACK_CHAOS_CALLBACKS=1000 RINGBACK_CHAOS_KILL_EVERY=3s).
func chaosSize(t *testing.T) (callbacks int, killEvery time.Duration) {
	callbacks, killEvery = 300, 4*time.Second
	if v := os.Getenv("RINGBACK_CHAOS_CALLBACKS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			fatalf(t, "RINGBACK_CHAOS_CALLBACKS=%q: want 1 to 1000", v)
		}
		callbacks = n
	}
	if v := os.Getenv("RINGBACK_CHAOS_KILL_EVERY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 500*time.Millisecond {
			fatalf(t, "RINGBACK_CHAOS_KILL_EVERY=%q: want a duration of 500ms or more", v)
		}
		killEvery = d
	}
	return callbacks, killEvery
}

// TestChaosEveryReplicaKilled: every service as its own process, two
// replicas each (router and media gateway included), on PostgreSQL and a
// Kafka broker, sipp as the agents' phones and as the trunk. Callbacks go
// through to Done, driven by agents over HTTP, while a loop kills a random
// replica with SIGKILL every few seconds and starts a new one. Afterwards
// nothing is lost or doubled: every callback COMPLETED, every stream once
// and in order, never an agent holding two offers, never a contact dialled
// twice for one attempt, every answered call hung up.
func TestChaosEveryReplicaKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: sixteen processes under kill -9")
	}
	sayWhyLast(t)
	siptest.Sipp(t)
	total, killEvery := chaosSize(t)
	db := pgtest.Database(t)
	brokers := strings.Join(kafkatest.StartBroker(t), ",")
	// The trunk and the phones end an answer nobody ACKed, as real ones
	// do: a gateway killed between a 200 and its ACK, before it recorded
	// the dialog, leaves nothing a survivor could hang up.
	trunk := siptest.StartUAS(t, siptest.AnswerEndsUnacked)
	phones := siptest.StartUAS(t, siptest.AnswerEndsUnacked)
	// A replica replacing a killed one joins consumer groups that wait for
	// the dead member's session to time out (10 s) before they rebalance.
	// A dial cut by a gateway killed mid-call fails; by default the
	// scheduler would try it again 10 minutes later, past the test. Here
	// the agent decides instead (the client clicks Done), so every
	// callback completes within the run.
	servicesFile := filepath.Join(t.TempDir(), "services.yaml")
	if err := os.WriteFile(servicesFile, []byte(`services: {"*": {retry: {busy: {attempts: 2, then: agent}, `+
		`no_answer: {attempts: 2, then: agent}, failed: {attempts: 2, then: agent}}}, `+
		`support: {}}`), 0o600); err != nil {
		fatalf(t, "%v", err)
	}
	rs := &replicaSet{t: t, procs: map[string][]*proc{}, ready: 2 * time.Minute,
		args: []string{"--bus", "kafka", "--kafka-brokers", brokers, "--eventstore", db,
			"--router.lease-ttl", "2s", "--media.lease-ttl", "3s", "--services", servicesFile}}
	var (
		seq      atomic.Int64
		idMu     sync.Mutex
		instance = map[*proc]string{}
	)
	startReplica := func(service string) *proc {
		n := seq.Add(1)
		switch service {
		case "router":
			id := fmt.Sprintf("router-%d", n)
			p := rs.start(service, "--router.instance-id", id)
			idMu.Lock()
			instance[p] = id
			idMu.Unlock()
			return p
		case "media-gateway":
			id := fmt.Sprintf("gw-%d", n)
			p := rs.start(service, "--media.instance-id", id, "--sip", freePort(t, "udp"),
				"--sip-trunk", trunk.Addr, "--media.trunk-keepalive", "0", "--media.drain-grace", "2s")
			idMu.Lock()
			instance[p] = id
			idMu.Unlock()
			return p
		}
		return rs.start(service)
	}
	for _, s := range services {
		startReplica(s)
		startReplica(s)
	}
	st, err := postgres.Open(t.Context(), db)
	if err != nil {
		fatalf(t, "%v", err)
	}
	defer st.Close()
	c := &chaosClient{t: t, rs: rs}

	// Ten agents, each driving whatever is offered to them to Done.
	const agents = 10
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var drivers sync.WaitGroup
	for i := range agents {
		agent := fmt.Sprintf("chaos-%d", i)
		if r := c.do("POST", "/v1/agents/"+agent+"/session", map[string]string{"phone_uri": "sip:" + agent + "@" + phones.Addr}); r.Status != 200 {
			fatalf(t, "login %s: %d %s", agent, r.Status, r.Body)
		}
		if r := c.do("PUT", "/v1/agents/"+agent+"/state", map[string]string{"channel": "webcallback", "state": "READY"}); r.Status != 200 {
			fatalf(t, "ready %s: %d %s", agent, r.Status, r.Body)
		}
		drivers.Go(func() { c.drive(ctx, agent) })
	}

	// The killer: every killEvery a replica of the next service in a
	// shuffled round of all seven, so each is hit, replaced a second later.
	var (
		kills      []string
		takeovers  = map[string][]time.Duration{}
		killerDone = make(chan struct{})
	)
	go func() {
		defer close(killerDone)
		var round []string
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(killEvery):
			}
			if len(round) == 0 {
				round = slices.Clone(services)
				rand.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
			}
			service := round[0]
			round = round[1:]
			live := rs.live(service)
			if len(live) < 2 {
				continue
			}
			v := live[rand.IntN(len(live))]
			idMu.Lock()
			id := instance[v]
			idMu.Unlock()
			// A lease the victim holds passes to a survivor: the router's
			// dispatcher lease if it led, a gateway's own heartbeat lease.
			lease := ""
			switch service {
			case "router":
				if l, _, _, _ := st.ReadLease(ctx, "router-dispatcher"); l.Holder == id {
					lease = "router-dispatcher"
				}
			case "media-gateway":
				lease = "media-gateway-" + id
			}
			before, _, _, _ := st.ReadLease(ctx, lease)
			began := time.Now()
			v.kill9(t)
			kills = append(kills, service)
			for lease != "" && ctx.Err() == nil && time.Since(began) < 30*time.Second {
				if l, _, _, _ := st.ReadLease(ctx, lease); l.Generation != before.Generation {
					takeovers[service] = append(takeovers[service], time.Since(began).Round(time.Millisecond))
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			startReplica(service)
		}
	}()

	// The visitors: callbacks at a steady rate through the intake replicas.
	number := func(i int) string { return fmt.Sprintf("+442079460%03d", i) }
	ids := make([]string, total)
	for i := range total {
		var cb struct{ ID string }
		r := c.doKey("POST", "/v1/callbacks", fmt.Sprintf("chaos-%d", i),
			map[string]any{"service": "support", "phone_number": number(i), "subject": fmt.Sprintf("Chaos %d", i)})
		if r.Status != http.StatusCreated && r.Status != http.StatusOK {
			fatalf(t, "create %d: %d %s", i, r.Status, r.Body)
		}
		if err := json.Unmarshal(r.Body, &cb); err != nil {
			fatalf(t, "%v", err)
		}
		ids[i] = cb.ID
		time.Sleep(50 * time.Millisecond)
	}

	// Every callback reaches Done. The bound is on liveness, not speed: 2 s
	// a callback, as a 2-core CI machine twice as slow as the one this
	// test was written on completes them at about one every 2 s with a
	// replica killed every few seconds.
	deadline := time.Now().Add(time.Duration(total)*2*time.Second + 2*time.Minute)
	for i := 0; i < total; {
		var cb struct{ State string }
		r := c.do("GET", "/v1/callbacks/"+ids[i], nil)
		if r.Status == 200 {
			_ = json.Unmarshal(r.Body, &cb)
		}
		if cb.State == "COMPLETED" {
			i++
			continue
		}
		if time.Now().After(deadline) {
			fatalf(t, "callback %d (%s) is %q after the deadline; %d of %d completed; kills %v", i, ids[i], cb.State, i, total, kills)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	<-killerDone
	drivers.Wait()
	t.Logf("%d callbacks completed; %d replicas killed (%v); takeovers after kill -9 (lease ttl: router 2s, gateway 3s): "+
		"router leader %v, media gateway %v", total, len(kills), kills, takeovers["router"], takeovers["media-gateway"])

	checkChaosStore(t, st)
	checkChaosSIP(t, st, openerOn(t, db), trunk, phones)
	checkChaosHistory(t, c, total, number)
}

// checkChaosHistory reads every callback's audit trail from history: each
// event once, the whole path in order. History copies what it consumes
// from the bus, and a replica killed near the end holds its partitions
// until the group's session times out (10 s): a trail not whole yet is
// read again, for at most a minute in all; a duplicate fails at once.
func checkChaosHistory(t *testing.T, c *chaosClient, total int, number func(int) string) {
	t.Helper()
	want := []string{"CallbackRequested", "InteractionOffered", "OfferAccepted", "DialRequested", "InteractionDone"}
	began := time.Now()
	deadline := began.Add(time.Minute)
	for i := range total {
		for {
			whole, why := chaosTrailWhole(t, c, i, number(i), want)
			if whole {
				break
			}
			if time.Now().After(deadline) {
				fatalf(t, "after %s, %s", time.Since(began).Round(time.Second), why)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Logf("history: %d trails, each event once, the whole path in order (whole %s after the last callback completed)",
		total, time.Since(began).Round(100*time.Millisecond))
}

// chaosTrailWhole reads callback i's trail: whether it holds want in
// order, and if not, why. An event twice fails the test.
func chaosTrailWhole(t *testing.T, c *chaosClient, i int, number string, want []string) (bool, string) {
	t.Helper()
	var rows []struct {
		InteractionID string `json:"interaction_id"`
	}
	r := c.do("GET", "/v1/contacts/"+strings.ReplaceAll(number, "+", "%2B")+"/history", nil)
	if r.Status != 200 || json.Unmarshal(r.Body, &rows) != nil || len(rows) != 1 {
		return false, fmt.Sprintf("history of callback %d: %d %s", i, r.Status, r.Body)
	}
	var trail []struct{ ID, Type string }
	r = c.do("GET", "/v1/interactions/"+rows[0].InteractionID+"/events", nil)
	if r.Status != 200 || json.Unmarshal(r.Body, &trail) != nil {
		return false, fmt.Sprintf("trail of callback %d: %d %s", i, r.Status, r.Body)
	}
	seen := map[string]bool{}
	for _, e := range trail {
		if seen[e.ID] {
			fatalf(t, "trail of callback %d: %s (%s) twice: %s", i, e.ID, e.Type, trailTypes(trail))
		}
		seen[e.ID] = true
	}
	if !hasInOrder(typesOf(trail), want...) {
		return false, fmt.Sprintf("trail of callback %d: %s, want %v in order", i, trailTypes(trail), want)
	}
	return true, ""
}

// chaosClient sends each request to a live replica of the service that owns
// it, and tries another when one dies under it.
type chaosClient struct {
	t  *testing.T
	rs *replicaSet
}

func (c *chaosClient) do(method, path string, body any) reply { return c.doKey(method, path, "", body) }

func (c *chaosClient) doKey(method, path, key string, body any) reply {
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	for attempt := 0; ; attempt++ {
		live := c.rs.live(owner(method, path))
		if len(live) > 0 {
			p := live[rand.IntN(len(live))]
			req, _ := http.NewRequest(method, p.URL+path, bytes.NewReader(b))
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			if key != "" {
				req.Header.Set("Idempotency-Key", key)
			}
			res, err := http.DefaultClient.Do(req)
			if err == nil {
				out, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode < 500 || attempt >= 100 {
					return reply{Status: res.StatusCode, Header: res.Header, Body: out}
				}
			}
		}
		if attempt >= 100 {
			return reply{Status: 599, Body: []byte("no replica answered")}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// drive plays one agent: accept what is offered, call, end the call, set a
// disposition, Done; again and again until ctx ends.
func (c *chaosClient) drive(ctx context.Context, agent string) {
	dialled := map[string]bool{}
	for ctx.Err() == nil {
		time.Sleep(30 * time.Millisecond)
		var ag struct{ Interactions []string }
		r := c.do("GET", "/v1/agents/"+agent, nil)
		if r.Status != 200 || json.Unmarshal(r.Body, &ag) != nil {
			continue
		}
		for _, ix := range ag.Interactions {
			var v interactionView
			r := c.do("GET", "/v1/interactions/"+ix, nil)
			if r.Status != 200 || json.Unmarshal(r.Body, &v) != nil {
				continue
			}
			switch {
			case v.Phase == "offered":
				c.do("POST", "/v1/interactions/"+ix+"/accept", nil)
			case v.Phase != "accepted":
			case v.Status == "Connected":
				c.do("POST", "/v1/interactions/"+ix+"/end-call", nil)
			case v.Status == "Ready to Call" && !dialled[ix]:
				if r := c.do("POST", "/v1/interactions/"+ix+"/call", nil); r.Status == 200 || r.Status == 409 {
					dialled[ix] = true
				}
			case v.Status == "Ready to Call":
				if v.Disposition == "" {
					c.do("PUT", "/v1/interactions/"+ix+"/disposition", map[string]string{"code": "resolved"})
					continue
				}
				c.do("POST", "/v1/interactions/"+ix+"/done", nil)
			}
		}
	}
}

// checkChaosStore reads the whole store: every stream once and in order,
// no offer twice, never an agent holding two offers at once.
func checkChaosStore(t *testing.T, st *postgres.Store) {
	t.Helper()
	var (
		offerIDs = map[string]bool{}
		pending  = map[string]map[string]bool{} // agent -> offers not yet answered
	)
	settle := func(agent, offer string) {
		if pending[agent] != nil {
			delete(pending[agent], offer)
		}
	}
	events, streams := scanStore(t, st, func(e eventstore.RecordedEvent) error {
		if !strings.HasPrefix(e.Stream, "router-interaction-") {
			return nil
		}
		m, err := eventstore.Decode(e)
		if err != nil {
			return nil //nolint:nilerr // not an event this check reads
		}
		switch m := m.(type) {
		case *routingv1.InteractionOffered:
			if offerIDs[m.OfferId] {
				return fmt.Errorf("offer %s made twice", m.OfferId)
			}
			offerIDs[m.OfferId] = true
			if len(pending[m.AgentId]) > 0 {
				return fmt.Errorf("agent %s offered %s while holding offer(s) %v", m.AgentId, m.OfferId, pending[m.AgentId])
			}
			if pending[m.AgentId] == nil {
				pending[m.AgentId] = map[string]bool{}
			}
			pending[m.AgentId][m.OfferId] = true
		case *routingv1.OfferAccepted:
			settle(m.AgentId, m.OfferId)
		case *routingv1.OfferRejected:
			settle(m.AgentId, m.OfferId)
		case *routingv1.OfferTimedOut:
			settle(m.AgentId, m.OfferId)
		}
		return nil
	})
	t.Logf("store: %d events in %d streams, each once and in order; %d offers, never two held by one agent", events, streams, len(offerIDs))
}

// openerOn opens the personal data the processes sealed on database db:
// the key store is the database's own table and its secret the one the
// first process drew into it (no --personal.secret-file in these tests).
func openerOn(t *testing.T, db string) *personal.Sealer {
	t.Helper()
	blobs, err := personal.OpenPostgres(t.Context(), db)
	if err != nil {
		fatalf(t, "%v", err)
	}
	t.Cleanup(func() { _ = blobs.Close() })
	secret, err := blobs.Get(t.Context(), "master", "secret")
	if err != nil {
		fatalf(t, "the processes' secret: %v", err)
	}
	master, ids, err := personal.DeriveSecrets(secret)
	if err != nil {
		fatalf(t, "%v", err)
	}
	ks, err := personal.NewWrapped(blobs, master)
	if err != nil {
		fatalf(t, "%v", err)
	}
	s, err := personal.NewSealer(ks, ids)
	if err != nil {
		fatalf(t, "%v", err)
	}
	return s
}
